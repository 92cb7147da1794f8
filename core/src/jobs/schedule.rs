//! Recurring jobs: a cron expression (UTC) and the job to enqueue, stored in
//! the database.
//!
//! Every worker process runs a [`Scheduler`]. A due schedule is taken by
//! moving its `next_run_at` forward with a compare-and-set in the same
//! transaction that enqueues the job, so when several processes share one
//! database exactly one of them enqueues each run; a unique index on
//! `(schedule_id, scheduled_for)` refuses a second job for one run whatever
//! happens. A server that was down enqueues one run for the time it missed,
//! not one per missed occurrence.

use std::str::FromStr;

use croner::Cron;
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use super::{enqueue, NewJob, Target};
use crate::{clock, db, identity::Principal, CoreError, CoreResult, Db};

/// A schedule to create or update (by tenant and name).
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub tenant_id: String,
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub target: Option<Target>,
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub cron: String,
    pub kind: String,
    pub payload: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub enabled: bool,
    pub next_run_at: String,
    pub last_run_at: Option<String>,
    pub last_job_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Schedule {
    /// The cron expression in words ("At 03:00", "Every minute").
    pub fn describe(&self) -> String {
        parse(&self.cron)
            .map(|c| c.describe())
            .unwrap_or_else(|e| e.to_string())
    }
}

fn row_to_schedule(r: &sqlx::any::AnyRow) -> CoreResult<Schedule> {
    Ok(Schedule {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        cron: r.try_get("cron")?,
        kind: r.try_get("kind")?,
        payload: r.try_get("payload")?,
        target_type: r.try_get("target_type")?,
        target_id: r.try_get("target_id")?,
        enabled: db::is_set(r.try_get("enabled")?),
        next_run_at: r.try_get("next_run_at")?,
        last_run_at: r.try_get("last_run_at")?,
        last_job_id: r.try_get("last_job_id")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Parse a cron expression: five fields (minute hour day month weekday) or
/// six with seconds first, in UTC.
pub fn parse(expr: &str) -> CoreResult<Cron> {
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(crate::error::field_error("cron", format!(
            "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first); `{expr}` has {fields}"
        )));
    }
    Cron::from_str(expr).map_err(|e| {
        crate::error::field_error(
            "cron",
            format!("`{expr}` is not a valid cron expression: {e}"),
        )
    })
}

/// The first time after `t` that `cron` names.
pub fn next_after(cron: &Cron, t: OffsetDateTime) -> CoreResult<OffsetDateTime> {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond())
        .ok_or_else(|| CoreError::Internal("time out of range".into()))?;
    let next = cron.find_next_occurrence(&at, false).map_err(|e| {
        crate::error::field_error("cron", format!("the schedule never runs again: {e}"))
    })?;
    OffsetDateTime::from_unix_timestamp(next.timestamp())
        .map_err(|e| CoreError::Internal(format!("time out of range: {e}")))
}

/// Create the schedule, or update its definition when one of that name
/// exists (its enabled flag and run history are kept).
pub async fn ensure(db: &Db, s: NewSchedule) -> CoreResult<Schedule> {
    let cron = parse(&s.cron)?;
    let now_t = OffsetDateTime::now_utc();
    let now = clock::format(now_t);
    let next = clock::format(next_after(&cron, now_t)?);
    let payload = serde_json::to_string(&s.payload)
        .map_err(|e| CoreError::Internal(format!("schedule payload: {e}")))?;
    // The next run moves only when the expression changed.
    sqlx::query(
        "INSERT INTO schedules (id, tenant_id, name, cron, kind, payload, target_type, target_id, enabled, \
         next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $10) \
         ON CONFLICT (tenant_id, name) DO UPDATE SET \
           next_run_at = CASE WHEN schedules.cron = excluded.cron THEN schedules.next_run_at ELSE excluded.next_run_at END, \
           cron = excluded.cron, kind = excluded.kind, payload = excluded.payload, \
           target_type = excluded.target_type, target_id = excluded.target_id, updated_at = excluded.updated_at",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&s.tenant_id)
    .bind(&s.name)
    .bind(&s.cron)
    .bind(&s.kind)
    .bind(&payload)
    .bind(s.target.as_ref().map(|t| t.kind.clone()))
    .bind(s.target.as_ref().map(|t| t.id.clone()))
    .bind(&next)
    .bind(&now)
    .execute(db.pool())
    .await?;
    let row = sqlx::query("SELECT * FROM schedules WHERE tenant_id = $1 AND name = $2")
        .bind(&s.tenant_id)
        .bind(&s.name)
        .fetch_one(db.pool())
        .await?;
    row_to_schedule(&row)
}

/// Schedules `p` may see (its tenant's; platform admins see all).
pub async fn list(db: &Db, p: &Principal) -> CoreResult<Vec<Schedule>> {
    p.require_operator("schedules are for operators")?;
    sqlx::query("SELECT * FROM schedules WHERE tenant_id = $1 OR $2 = 1 ORDER BY name, tenant_id")
        .bind(&p.tenant_id)
        .bind(i64::from(p.platform_admin))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(row_to_schedule)
        .collect()
}

/// One schedule `p` may see.
pub async fn get(db: &Db, p: &Principal, id: &str) -> CoreResult<Schedule> {
    p.require_operator("schedules are for operators")?;
    let row = sqlx::query("SELECT * FROM schedules WHERE id = $1 AND (tenant_id = $2 OR $3 = 1)")
        .bind(id)
        .bind(&p.tenant_id)
        .bind(i64::from(p.platform_admin))
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_schedule(&row)
}

/// Pause or resume a schedule (admins). Resuming starts from the next
/// occurrence after now, not from the runs missed while paused.
pub async fn set_enabled(db: &Db, p: &Principal, id: &str, enabled: bool) -> CoreResult<Schedule> {
    p.require_admin("only admins pause or resume schedules")?;
    let s = get(db, p, id).await?;
    let now_t = OffsetDateTime::now_utc();
    let next = clock::format(next_after(&parse(&s.cron)?, now_t)?);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE schedules SET enabled = $1, next_run_at = CASE WHEN $1 = 1 AND enabled = 0 THEN $2 ELSE next_run_at END, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(db::flag(enabled))
    .bind(&next)
    .bind(clock::format(now_t))
    .bind(&s.id)
    .execute(&mut *tx)
    .await?;
    crate::audit::record_in(
        &mut tx,
        crate::audit::NewEvent::new(if enabled {
            "schedule.resumed"
        } else {
            "schedule.paused"
        })
        .tenant(s.tenant_id.clone())
        .actor(Some(p.user_id.clone()))
        .resource("schedule", s.id.clone())
        .meta(serde_json::json!({ "name": s.name })),
    )
    .await?;
    tx.commit().await?;
    get(db, p, id).await
}

/// Enqueue a schedule's job now, outside its rhythm (operators). Returns the job id.
pub async fn run_now(db: &Db, p: &Principal, id: &str) -> CoreResult<String> {
    let s = get(db, p, id).await?;
    let mut tx = db.begin_write().await?;
    let job = enqueue(db, &mut tx, job_of(&s, &clock::now())?)
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                CoreError::Conflict("this schedule was just started".into())
            } else {
                e
            }
        })?;
    sqlx::query("UPDATE schedules SET last_job_id = $1, updated_at = $2 WHERE id = $3")
        .bind(&job)
        .bind(clock::now())
        .bind(&s.id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_in(
        &mut tx,
        crate::audit::NewEvent::new("schedule.run_now")
            .tenant(s.tenant_id.clone())
            .actor(Some(p.user_id.clone()))
            .resource("schedule", s.id.clone())
            .meta(serde_json::json!({ "name": s.name, "jobId": job })),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

fn job_of(s: &Schedule, run: &str) -> CoreResult<NewJob> {
    let payload: serde_json::Value = serde_json::from_str(&s.payload)
        .map_err(|e| CoreError::Internal(format!("schedule payload: {e}")))?;
    let mut job = NewJob::new(&s.tenant_id, &s.kind, payload);
    if let (Some(kind), Some(id)) = (&s.target_type, &s.target_id) {
        job = job.target(kind, id);
    }
    job.scheduled = Some((s.id.clone(), run.to_string()));
    Ok(job)
}

/// Enqueue every schedule due at `now`. Returns how many runs this process
/// enqueued (runs another process took are not counted).
pub async fn tick(db: &Db, now: OffsetDateTime) -> CoreResult<usize> {
    let now_s = clock::format(now);
    let due = sqlx::query(
        "SELECT * FROM schedules WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at LIMIT 100",
    )
    .bind(&now_s)
    .fetch_all(db.pool())
    .await?;
    let mut enqueued = 0;
    for row in &due {
        let s = row_to_schedule(row)?;
        match take_run(db, &s, now).await {
            Ok(true) => enqueued += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(schedule = %s.name, error = %e, "a scheduled run could not be enqueued");
                crate::events::record(
                    db,
                    crate::events::NewEvent {
                        tenant_id: &s.tenant_id,
                        source: "scheduler",
                        level: "error",
                        kind: "schedule.failed",
                        message: format!("schedule {} could not enqueue its run: {e}", s.name),
                        job_id: None,
                        server_id: None,
                    },
                )
                .await;
            }
        }
    }
    Ok(enqueued)
}

/// Take one due run of `s`: move its next run forward only if no one else
/// has (compare-and-set on `next_run_at`) and enqueue the job in the same
/// transaction. `Ok(false)` when another process took it.
async fn take_run(db: &Db, s: &Schedule, now: OffsetDateTime) -> CoreResult<bool> {
    let cron = match parse(&s.cron) {
        Ok(c) => c,
        Err(e) => {
            // A bad expression stored earlier: pause it rather than fail every second.
            sqlx::query("UPDATE schedules SET enabled = 0, updated_at = $1 WHERE id = $2")
                .bind(clock::format(now))
                .bind(&s.id)
                .execute(db.pool())
                .await?;
            return Err(e);
        }
    };
    let next = clock::format(next_after(&cron, now)?);
    let mut tx = db.begin_write().await?;
    let moved = sqlx::query(
        "UPDATE schedules SET next_run_at = $1, last_run_at = $2, updated_at = $3 \
         WHERE id = $4 AND next_run_at = $2 AND enabled = 1",
    )
    .bind(&next)
    .bind(&s.next_run_at)
    .bind(clock::format(now))
    .bind(&s.id)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    let job = match enqueue(db, &mut tx, job_of(s, &s.next_run_at)?).await {
        Ok(job) => job,
        Err(e) if e.is_unique_violation() => {
            tx.rollback().await?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    sqlx::query("UPDATE schedules SET last_job_id = $1 WHERE id = $2")
        .bind(&job)
        .bind(&s.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Enqueues due schedules once a second until stopped.
pub struct Scheduler {
    db: Db,
    every: std::time::Duration,
}

impl Scheduler {
    pub fn new(db: Db) -> Scheduler {
        Scheduler {
            db,
            every: std::time::Duration::from_secs(1),
        }
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = tick(&self.db, OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %e, "scheduler tick failed; trying again");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
