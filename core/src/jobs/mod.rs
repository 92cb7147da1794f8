//! The durable job queue: every piece of work that touches a node or a
//! provider runs as a job.
//!
//! - Enqueue in the caller's transaction ([`enqueue`] takes a connection), so a
//!   state change and its job commit together or not at all.
//! - Workers claim with a lease: one `UPDATE … RETURNING` that picks the
//!   oldest ready job (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the
//!   statement is its own write transaction). A job whose lease expired (its
//!   worker died) is ready again. Delivery is at least once, so handlers are
//!   idempotent: a job is a list of named steps, and finished steps are
//!   recorded and skipped on a retry ([`JobContext::step`]).
//! - At most one running job per target, enforced by a unique partial index.
//! - Transient errors retry with exponential backoff and jitter up to
//!   `max_attempts`; permanent errors, timeouts and cancellation end the job
//!   at once with a stable `error_code`.

pub mod noop;
pub mod schedule;
pub mod system_check;
pub mod worker;

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use time::{Duration, OffsetDateTime};

use crate::{clock, identity::Principal, paging::Page, Backend, CoreError, CoreResult, Db};

pub use worker::{JobContext, JobError, JobHandler, Registry, Worker};

/// What a job is about (a site, a server, a CloudPod…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub kind: String,
    pub id: String,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tenant_id: String,
    pub kind: String,
    pub target: Option<Target>,
    pub payload: serde_json::Value,
    pub max_attempts: i64,
    pub timeout: std::time::Duration,
    pub run_after: Option<OffsetDateTime>,
    /// The schedule and run (time) this job is, for scheduled jobs.
    pub(crate) scheduled: Option<(String, String)>,
}

impl NewJob {
    pub fn new(
        tenant_id: impl Into<String>,
        kind: impl Into<String>,
        payload: serde_json::Value,
    ) -> NewJob {
        NewJob {
            tenant_id: tenant_id.into(),
            kind: kind.into(),
            target: None,
            payload,
            max_attempts: 5,
            timeout: std::time::Duration::from_secs(15 * 60),
            run_after: None,
            scheduled: None,
        }
    }

    pub fn target(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.target = Some(Target {
            kind: kind.into(),
            id: id.into(),
        });
        self
    }

    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    pub fn timeout(mut self, t: std::time::Duration) -> Self {
        self.timeout = t;
        self
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempt: i64,
    pub max_attempts: i64,
    pub timeout_secs: i64,
    pub run_after: String,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub cancel_requested: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub progress: i64,
    pub progress_label: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

pub fn row_to_job(r: &sqlx::any::AnyRow) -> CoreResult<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        kind: r.try_get("kind")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempt: r.try_get("attempt")?,
        max_attempts: r.try_get("max_attempts")?,
        timeout_secs: r.try_get("timeout_secs")?,
        run_after: r.try_get("run_after")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_expires_at: r.try_get("lease_expires_at")?,
        cancel_requested: crate::db::is_set(r.try_get("cancel_requested")?),
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        progress: r.try_get("progress")?,
        progress_label: r.try_get("progress_label")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// The PostgreSQL channel that tells workers in every process of new jobs.
pub(crate) const WAKE_CHANNEL: &str = "mooring_jobs";

/// Enqueue a job on `conn` (pass a transaction's connection to commit it
/// together with the change that needs it). Returns the job id. Workers hear
/// of it at once: on PostgreSQL through `NOTIFY`, delivered when the
/// transaction commits; in this process through [`Db::wake_workers`].
pub async fn enqueue(db: &Db, conn: &mut AnyConnection, job: NewJob) -> CoreResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let payload = serde_json::to_string(&job.payload)
        .map_err(|e| CoreError::Internal(format!("job payload: {e}")))?;
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, kind, target_type, target_id, payload, status, attempt, \
         max_attempts, timeout_secs, run_after, created_at, updated_at, schedule_id, scheduled_for) \
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9, $10, $10, $11, $12)",
    )
    .bind(&id)
    .bind(&job.tenant_id)
    .bind(&job.kind)
    .bind(job.target.as_ref().map(|t| t.kind.clone()))
    .bind(job.target.as_ref().map(|t| t.id.clone()))
    .bind(payload)
    .bind(job.max_attempts)
    .bind(i64::try_from(job.timeout.as_secs()).unwrap_or(i64::MAX))
    .bind(
        job.run_after
            .map(clock::format)
            .unwrap_or_else(|| now.clone()),
    )
    .bind(&now)
    .bind(job.scheduled.as_ref().map(|r| r.0.clone()))
    .bind(job.scheduled.as_ref().map(|r| r.1.clone()))
    .execute(&mut *conn)
    .await?;
    if db.backend() == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {WAKE_CHANNEL}"))
            .execute(&mut *conn)
            .await?;
    }
    db.wake_workers();
    Ok(id)
}

/// Enqueue outside any transaction.
pub async fn enqueue_now(db: &Db, job: NewJob) -> CoreResult<String> {
    let mut conn = db.pool().acquire().await?;
    enqueue(db, &mut conn, job).await
}

/// A job claimed by a worker, with where its log continues.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job: Job,
    /// The last log line's sequence number (earlier attempts wrote lines).
    pub last_log_seq: i64,
}

/// Claim the oldest ready job for `owner` with a lease of `lease`.
pub async fn claim(db: &Db, owner: &str, lease: Duration) -> CoreResult<Option<Job>> {
    Ok(claim_many(db, owner, lease, 1)
        .await?
        .into_iter()
        .next()
        .map(|c| c.job))
}

/// Claim up to `limit` of the oldest ready jobs in one statement.
pub async fn claim_many(
    db: &Db,
    owner: &str,
    lease: Duration,
    limit: usize,
) -> CoreResult<Vec<Claimed>> {
    let now_t = OffsetDateTime::now_utc();
    let now = clock::format(now_t);
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         attempt = attempt + 1, started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE id IN (SELECT j.id FROM jobs j \
           WHERE j.status = 'queued' AND j.run_after <= $3 \
             AND (j.target_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.target_type = j.target_type \
                  AND o.target_id = j.target_id AND o.status = 'running')) \
           ORDER BY j.run_after, j.created_at LIMIT $4{lock}) \
         RETURNING *, (SELECT COALESCE(MAX(l.seq), 0) FROM job_logs l WHERE l.job_id = jobs.id) AS last_log_seq"
    );
    let rows = sqlx::query(&sql)
        .bind(owner)
        .bind(clock::format(now_t + lease))
        .bind(&now)
        .bind(i64::try_from(limit.max(1)).unwrap_or(1))
        .fetch_all(db.pool())
        .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    job: row_to_job(r)?,
                    last_log_seq: r.try_get("last_log_seq")?,
                })
            })
            .collect(),
        // Two jobs of one target in one batch, or two workers racing for one
        // target: the index refused it and nothing was claimed. One at a time
        // sorts it out.
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            if limit > 1 {
                Box::pin(claim_many(db, owner, lease, 1)).await
            } else {
                Ok(Vec::new())
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Put running jobs whose lease ran out (their worker died or lost the
/// database) back in the queue. Returns how many.
pub async fn requeue_expired(db: &Db) -> CoreResult<u64> {
    let now = clock::now();
    // A job whose worker died on every one of its attempts is likely what
    // kills it: stop there rather than take down worker after worker.
    let lost = sqlx::query(
        "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1, \
         finished_at = $1, error_code = 'worker_lost', \
         error_message = 'its worker stopped during each of its ' || CAST(attempt AS TEXT) || ' attempts' \
         WHERE status = 'running' AND lease_expires_at < $1 AND attempt >= max_attempts \
         RETURNING id, tenant_id, kind, attempt",
    )
    .bind(&now)
    .fetch_all(db.pool())
    .await?;
    queue_events(db, &lost, "error", "job.failed", |kind, attempt| {
        format!("{kind} job failed: its worker stopped during each of its {attempt} attempts")
    })
    .await?;
    let rows = sqlx::query(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
         WHERE status = 'running' AND lease_expires_at < $1 RETURNING id, tenant_id, kind, attempt",
    )
    .bind(&now)
    .fetch_all(db.pool())
    .await?;
    queue_events(db, &rows, "warning", "job.requeued", |kind, attempt| {
        format!("{kind} job: its worker stopped during attempt {attempt}; queued to run again")
    })
    .await?;
    if !rows.is_empty() {
        tracing::info!(jobs = rows.len(), "requeued jobs whose worker stopped");
        db.wake_workers();
    }
    Ok(rows.len() as u64)
}

/// A queue event for each `(id, tenant_id, kind, attempt)` row.
async fn queue_events(
    db: &Db,
    rows: &[sqlx::any::AnyRow],
    level: &'static str,
    kind: &'static str,
    message: impl Fn(&str, i64) -> String,
) -> CoreResult<()> {
    for r in rows {
        let (id, tenant, job_kind, attempt): (String, String, String, i64) = (
            r.try_get("id")?,
            r.try_get("tenant_id")?,
            r.try_get("kind")?,
            r.try_get("attempt")?,
        );
        crate::events::record(
            db,
            crate::events::NewEvent {
                tenant_id: &tenant,
                source: "queue",
                level,
                kind,
                message: message(&job_kind, attempt),
                job_id: Some(&id),
                server_id: None,
            },
        )
        .await;
    }
    Ok(())
}

/// One job, if `p` may see it (its tenant's, or any for platform admins).
/// Jobs are the operators' view; customers see their services' work through
/// the services themselves.
pub async fn get(db: &Db, p: &Principal, id: &str) -> CoreResult<Job> {
    p.require_operator("jobs are visible to operators")?;
    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1 AND (tenant_id = $2 OR $3 = 1)")
        .bind(id)
        .bind(&p.tenant_id)
        .bind(i64::from(p.platform_admin))
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_job(&row)
}

/// A job by id, for the engine and tests (no authorization).
pub async fn load(db: &Db, id: &str) -> CoreResult<Job> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_job(&row)
}

/// Filters of the jobs list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFilter {
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub target_id: Option<String>,
}

/// Jobs `p` may see, newest first.
pub async fn list(
    db: &Db,
    p: &Principal,
    f: &JobFilter,
    page: Page,
) -> CoreResult<(Vec<Job>, i64)> {
    p.require_operator("jobs are visible to operators")?;
    if let Some(s) = &f.status {
        if !matches!(
            s.as_str(),
            "queued" | "running" | "succeeded" | "failed" | "cancelled"
        ) {
            return Err(crate::error::field_error(
                "status",
                "must be one of queued, running, succeeded, failed, cancelled",
            ));
        }
    }
    let cond =
        "(tenant_id = $1 OR $2 = 1) AND ($3 = '' OR status = $3) AND ($4 = '' OR kind = $4) \
                AND ($5 = '' OR target_id = $5)";
    let select = format!(
        "SELECT *, {} FROM jobs WHERE {cond} ORDER BY created_at DESC, id LIMIT $6 OFFSET $7",
        crate::paging::TOTAL
    );
    let count = format!("SELECT COUNT(*) FROM jobs WHERE {cond}");
    let (status, kind, target) = (
        f.status.clone().unwrap_or_default(),
        f.kind.clone().unwrap_or_default(),
        f.target_id.clone().unwrap_or_default(),
    );
    let all = i64::from(p.platform_admin);
    let rows = sqlx::query(&select)
        .bind(&p.tenant_id)
        .bind(all)
        .bind(&status)
        .bind(&kind)
        .bind(&target)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(db.pool())
        .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&count)
            .bind(&p.tenant_id)
            .bind(all)
            .bind(&status)
            .bind(&kind)
            .bind(&target)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_job).collect::<CoreResult<_>>()?,
        total,
    ))
}

/// Queue a failed or cancelled job again, from its first unfinished step.
pub async fn retry(db: &Db, p: &Principal, id: &str) -> CoreResult<Job> {
    let job = get(db, p, id).await?;
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempt = 0, run_after = $1, updated_at = $1, \
         error_code = NULL, error_message = NULL, finished_at = NULL, cancel_requested = 0, \
         lease_owner = NULL, lease_expires_at = NULL \
         WHERE id = $2 AND status IN ('failed', 'cancelled')",
    )
    .bind(&now)
    .bind(&job.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::Conflict(format!(
            "only failed or cancelled jobs can be retried; this one is {}",
            job.status
        )));
    }
    if db.backend() == Backend::Postgres {
        // Delivered when the transaction commits.
        sqlx::query(&format!("NOTIFY {WAKE_CHANNEL}"))
            .execute(&mut *tx)
            .await?;
    }
    crate::audit::record_in(
        &mut tx,
        crate::audit::NewEvent::new("job.retried")
            .tenant(job.tenant_id.clone())
            .actor(Some(p.user_id.clone()))
            .resource("job", job.id.clone())
            .meta(serde_json::json!({ "type": job.kind })),
    )
    .await?;
    tx.commit().await?;
    db.wake_workers();
    load(db, id).await
}

/// Cancel a job: a queued one at once, a running one cooperatively (its
/// handler sees the request at its next step or check).
pub async fn cancel(db: &Db, p: &Principal, id: &str) -> CoreResult<Job> {
    let job = get(db, p, id).await?;
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    let queued = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, updated_at = $1, \
         error_code = 'cancelled', error_message = 'cancelled before it ran' WHERE id = $2 AND status = 'queued'",
    )
    .bind(&now)
    .bind(&job.id)
    .execute(&mut *tx)
    .await?;
    if queued.rows_affected() == 0 {
        let running = sqlx::query("UPDATE jobs SET cancel_requested = 1, updated_at = $1 WHERE id = $2 AND status = 'running'")
            .bind(&now)
            .bind(&job.id)
            .execute(&mut *tx)
            .await?;
        if running.rows_affected() == 0 {
            return Err(CoreError::Conflict(format!(
                "the job is already {}",
                job.status
            )));
        }
    }
    crate::audit::record_in(
        &mut tx,
        crate::audit::NewEvent::new("job.cancel_requested")
            .tenant(job.tenant_id.clone())
            .actor(Some(p.user_id.clone()))
            .resource("job", job.id.clone())
            .meta(serde_json::json!({ "type": job.kind })),
    )
    .await?;
    tx.commit().await?;
    load(db, id).await
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub at: String,
    pub stream: String,
    pub line: String,
}

/// A job's log lines after `after` (0 for all), in order.
pub async fn log_lines(db: &Db, job_id: &str, after: i64) -> CoreResult<Vec<LogLine>> {
    let rows = sqlx::query(
        "SELECT seq, at, stream, line FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(job_id)
    .bind(after)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LogLine {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                stream: r.try_get("stream")?,
                line: r.try_get("line")?,
            })
        })
        .collect()
}

/// Delay before attempt `attempt + 1`: exponential from 2 s, capped at 10
/// minutes, with up to 25% random jitter so retries do not stampede.
pub fn backoff(attempt: i64) -> Duration {
    let base = 2f64 * 2f64.powi(i32::try_from(attempt.clamp(0, 20)).unwrap_or(20) - 1);
    let capped = base.min(600.0);
    let jitter = rand::random::<f64>() * 0.25 * capped;
    Duration::milliseconds(((capped + jitter) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_is_capped() {
        let a = super::backoff(1).as_seconds_f64();
        let b = super::backoff(3).as_seconds_f64();
        let c = super::backoff(30).as_seconds_f64();
        assert!((2.0..=2.5).contains(&a), "{a}");
        assert!((8.0..=10.0).contains(&b), "{b}");
        assert!((600.0..=750.0).contains(&c), "{c}");
    }
}

/// Counters for the dashboard: the queue right now, and failures in the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub running: i64,
    pub queued: i64,
    pub failed_24h: i64,
}

/// The dashboard counters `p` may see (its tenant's; platform admins: all).
pub async fn counters(db: &Db, p: &Principal) -> CoreResult<Counters> {
    p.require_operator("jobs are visible to operators")?;
    let since = clock::format(OffsetDateTime::now_utc() - Duration::hours(24));
    let row = sqlx::query(
        "SELECT \
           COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) AS running, \
           COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
           COALESCE(SUM(CASE WHEN status = 'failed' AND finished_at >= $3 THEN 1 ELSE 0 END), 0) AS failed \
         FROM jobs WHERE (tenant_id = $1 OR $2 = 1)",
    )
    .bind(&p.tenant_id)
    .bind(i64::from(p.platform_admin))
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok(Counters {
        running: row.try_get("running")?,
        queued: row.try_get("queued")?,
        failed_24h: row.try_get("failed")?,
    })
}

/// How long the job that has been ready to run the longest has waited, in
/// seconds (`None`: nothing waits). Workers take jobs within a second or two,
/// so a long wait means none is running.
pub async fn oldest_ready_wait(db: &Db) -> CoreResult<Option<i64>> {
    let now = OffsetDateTime::now_utc();
    let oldest: Option<String> = sqlx::query_scalar(
        "SELECT MIN(run_after) FROM jobs WHERE status = 'queued' AND run_after <= $1",
    )
    .bind(clock::format(now))
    .fetch_one(db.pool())
    .await?;
    Ok(oldest
        .as_deref()
        .and_then(clock::parse)
        .map(|t| (now - t).whole_seconds().max(0)))
}

/// The queue as monitoring sees it (all tenants).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// `(type, status, count)`.
    pub by_kind_status: Vec<(String, String, i64)>,
    /// Jobs ready to run and waiting for a worker.
    pub depth: i64,
    /// `(type, total seconds, jobs)` over the last 1000 finished jobs.
    pub durations: Vec<(String, f64, u64)>,
}

/// Read the queue's numbers for `/metrics`.
pub async fn queue_stats(db: &Db) -> CoreResult<QueueStats> {
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*) AS n FROM jobs GROUP BY kind, status ORDER BY kind, status",
    )
    .fetch_all(db.pool())
    .await?;
    let by_kind_status = rows
        .iter()
        .map(|r| Ok((r.try_get("kind")?, r.try_get("status")?, r.try_get("n")?)))
        .collect::<CoreResult<Vec<_>>>()?;
    let depth: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND run_after <= $1")
            .bind(clock::now())
            .fetch_one(db.pool())
            .await?;
    let done = sqlx::query(
        "SELECT kind, started_at, finished_at FROM jobs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL \
         ORDER BY finished_at DESC LIMIT 1000",
    )
    .fetch_all(db.pool())
    .await?;
    let mut by_kind: std::collections::BTreeMap<String, (f64, u64)> = Default::default();
    for r in &done {
        let kind: String = r.try_get("kind")?;
        let started: String = r.try_get("started_at")?;
        let finished: String = r.try_get("finished_at")?;
        if let (Some(s), Some(f)) = (clock::parse(&started), clock::parse(&finished)) {
            let e = by_kind.entry(kind).or_default();
            e.0 += (f - s).as_seconds_f64().max(0.0);
            e.1 += 1;
        }
    }
    Ok(QueueStats {
        by_kind_status,
        depth,
        durations: by_kind.into_iter().map(|(k, (s, n))| (k, s, n)).collect(),
    })
}
