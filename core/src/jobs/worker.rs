//! Running jobs: handlers, their context, and the worker loop.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use time::{Duration, OffsetDateTime};

use super::{backoff, claim_many, requeue_expired, Claimed, Job};
use crate::{clock, CoreError, CoreResult, Db};

/// How a job run ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Worth another try later (node unreachable, provider busy).
    Transient { code: String, message: String },
    /// Another try would fail the same way (bad input, refused by a provider).
    Permanent { code: String, message: String },
    /// Someone cancelled the job.
    Cancelled,
}

impl JobError {
    pub fn transient(code: &str, message: impl Into<String>) -> JobError {
        JobError::Transient {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn permanent(code: &str, message: impl Into<String>) -> JobError {
        JobError::Permanent {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Errors about the request (invalid, conflicting, forbidden, gone) would
/// fail the same way on every try: they end the job at once. Only an
/// unavailable dependency or an internal failure is worth another try.
impl From<CoreError> for JobError {
    fn from(e: CoreError) -> JobError {
        match e {
            CoreError::NotFound => {
                JobError::permanent("not_found", "the job's subject no longer exists")
            }
            CoreError::Unavailable(m) => JobError::transient("unavailable", m),
            e @ (CoreError::Invalid(_)
            | CoreError::Field { .. }
            | CoreError::Violation { .. }
            | CoreError::Conflict(_)
            | CoreError::Forbidden(_)) => JobError::permanent(e.code(), e.to_string()),
            other => JobError::transient("internal", other.to_string()),
        }
    }
}

/// The code of one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError>;

    /// The job failed for good: a permanent error, its last attempt, or its
    /// time limit. The handler may record that on what it worked on (a pod
    /// whose provisioning failed is `failed`, not left `provisioning`).
    async fn failed(&self, _ctx: &JobContext, _code: &str, _message: &str) {}
}

/// Handlers by job kind.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(mut self, kind: &str, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }
}

/// What a running handler can reach: its job, its log, its steps.
pub struct JobContext {
    db: Db,
    pub job: Job,
    cancel: Arc<AtomicBool>,
    log_seq: AtomicI64,
    /// Lines not yet written: the "attempt started" line waits for the
    /// handler's first write (or the end) so a short job costs one insert.
    held: std::sync::Mutex<Vec<(&'static str, String, String)>>,
}

impl JobContext {
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job's payload as `T`; a payload that does not fit is a permanent error.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_str(&self.job.payload).map_err(|e| {
            JobError::permanent(
                "bad_payload",
                format!("the job's payload does not fit: {e}"),
            )
        })
    }

    /// Whether someone asked to cancel this job.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Append a line to the job's log.
    pub async fn log(&self, stream: &str, line: impl Into<String>) -> CoreResult<()> {
        let mut lines = std::mem::take(&mut *self.held.lock().expect("log lines lock"));
        lines.push((
            match stream {
                "stdout" => "stdout",
                "stderr" => "stderr",
                _ => "system",
            },
            clock::now(),
            line.into(),
        ));
        self.write_lines(lines).await
    }

    /// Hold a line until the next write.
    fn hold(&self, line: String) {
        self.held
            .lock()
            .expect("log lines lock")
            .push(("system", clock::now(), line));
    }

    /// Write lines in order, in one statement.
    async fn write_lines(&self, lines: Vec<(&'static str, String, String)>) -> CoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("INSERT INTO job_logs (job_id, seq, at, stream, line) VALUES ");
        for i in 0..lines.len() {
            let b = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            ));
        }
        let mut q = sqlx::query(&sql);
        for (stream, at, line) in lines {
            let seq = self.log_seq.fetch_add(1, Ordering::Relaxed) + 1;
            q = q
                .bind(self.job.id.clone())
                .bind(seq)
                .bind(at)
                .bind(stream)
                .bind(line);
        }
        q.execute(self.db.pool()).await?;
        Ok(())
    }

    /// Report progress (0–100) and what is happening.
    pub async fn progress(&self, percent: i64, label: &str) -> CoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET progress = $1, progress_label = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(percent.clamp(0, 100))
        .bind(label)
        .bind(clock::now())
        .bind(&self.job.id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Run a named step once: a step that finished in an earlier attempt is
    /// skipped. A cancel request stops the job before the next step.
    pub async fn step<F, Fut>(&self, name: &str, f: F) -> Result<(), JobError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<(), JobError>> + Send,
    {
        if self.cancelled() {
            return Err(JobError::Cancelled);
        }
        let done: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM job_steps WHERE job_id = $1 AND name = $2")
                .bind(&self.job.id)
                .bind(name)
                .fetch_one(self.db.pool())
                .await
                .map_err(CoreError::from)?;
        if done > 0 {
            self.log("system", format!("step {name}: done before, skipped"))
                .await?;
            return Ok(());
        }
        self.log("system", format!("step {name}: started")).await?;
        f().await?;
        sqlx::query(
            "INSERT INTO job_steps (job_id, name, finished_at) VALUES ($1, $2, $3) ON CONFLICT (job_id, name) DO NOTHING",
        )
        .bind(&self.job.id)
        .bind(name)
        .bind(clock::now())
        .execute(self.db.pool())
        .await
        .map_err(CoreError::from)?;
        self.log("system", format!("step {name}: finished")).await?;
        Ok(())
    }
}

/// Claims jobs and runs them.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    registry: Arc<Registry>,
    owner: String,
    lease: Duration,
    concurrency: usize,
    poll: std::time::Duration,
}

impl Worker {
    pub fn new(db: Db, registry: Registry) -> Worker {
        Worker {
            db,
            registry: Arc::new(registry),
            owner: format!("worker-{}", uuid::Uuid::new_v4()),
            lease: Duration::seconds(30),
            concurrency: 4,
            poll: std::time::Duration::from_millis(500),
        }
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claim one ready job (after requeueing jobs whose lease ran out) and
    /// run it to its end here. `Ok(false)` when none was ready.
    pub async fn run_one(&self) -> CoreResult<bool> {
        requeue_expired(&self.db).await?;
        match claim_many(&self.db, &self.owner, self.lease, 1)
            .await?
            .pop()
        {
            Some(claimed) => {
                self.execute(claimed).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Run until `shutdown` resolves: up to `concurrency` jobs at once,
    /// claimed in batches as slots free up.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut ready = self.db.jobs_signal();
        let listener = (self.db.backend() == crate::Backend::Postgres)
            .then(|| tokio::spawn(listen_for_jobs(self.db.clone())));
        // How often to look for jobs whose worker died: well inside a lease.
        let sweep_every = std::time::Duration::from_millis(
            u64::try_from((self.lease / 2_i32).whole_milliseconds())
                .unwrap_or(1000)
                .clamp(200, 10_000),
        );
        let mut last_sweep: Option<std::time::Instant> = None;
        tokio::pin!(shutdown);
        loop {
            let first = tokio::select! {
                () = &mut shutdown => break,
                p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
            };
            let mut slots = vec![first];
            while let Ok(p) = permits.clone().try_acquire_owned() {
                slots.push(p);
            }
            if last_sweep.is_none_or(|t| t.elapsed() >= sweep_every) {
                last_sweep = Some(std::time::Instant::now());
                if let Err(e) = requeue_expired(&self.db).await {
                    tracing::warn!(error = %e, "looking for abandoned jobs failed");
                }
            }
            // Mark what we have seen before looking, so a job enqueued while we
            // look wakes the wait below rather than being missed.
            ready.borrow_and_update();
            match claim_many(&self.db, &self.owner, self.lease, slots.len()).await {
                Ok(claimed) if !claimed.is_empty() => {
                    for c in claimed {
                        let permit = slots.pop().expect("no more jobs than slots");
                        let me = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = me.execute(c).await {
                                tracing::error!(error = %e, "job bookkeeping failed");
                            }
                            drop(permit);
                        });
                    }
                    drop(slots);
                }
                Ok(_) => {
                    drop(slots);
                    // Sleep until a job is enqueued (here or, on PostgreSQL, in
                    // any process), or the poll interval passes (jobs whose
                    // backoff or lease ran out announce nothing).
                    tokio::select! {
                        () = &mut shutdown => break,
                        _ = ready.changed() => {}
                        () = tokio::time::sleep(self.poll) => {}
                    }
                }
                Err(e) => {
                    drop(slots);
                    tracing::warn!(error = %e, "claiming jobs failed; trying again");
                    tokio::time::sleep(self.poll * 4).await;
                }
            }
        }
        if let Some(l) = listener {
            l.abort();
        }
        // Let running jobs finish.
        let _ = permits
            .acquire_many(u32::try_from(self.concurrency).unwrap_or(u32::MAX))
            .await;
    }

    async fn execute(&self, claimed: Claimed) -> CoreResult<()> {
        let Claimed { job, last_log_seq } = claimed;
        let cancel = Arc::new(AtomicBool::new(job.cancel_requested));
        let lost = Arc::new(AtomicBool::new(false));
        let ctx = JobContext {
            db: self.db.clone(),
            job: job.clone(),
            cancel: cancel.clone(),
            log_seq: AtomicI64::new(last_log_seq),
            held: Default::default(),
        };
        // Renew the lease while the handler runs, and pick up cancel requests.
        let renew = {
            let (db, owner, id, lease) = (
                self.db.clone(),
                self.owner.clone(),
                job.id.clone(),
                self.lease,
            );
            let (cancel, lost) = (cancel.clone(), lost.clone());
            tokio::spawn(async move {
                let third: i128 = (lease / 3_i32).whole_milliseconds();
                let every =
                    std::time::Duration::from_millis(u64::try_from(third).unwrap_or(1000).max(50));
                loop {
                    tokio::time::sleep(every).await;
                    let renewed: Result<Option<i64>, _> = sqlx::query_scalar(
                        "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running' \
                         RETURNING cancel_requested",
                    )
                    .bind(clock::format(OffsetDateTime::now_utc() + lease))
                    .bind(&id)
                    .bind(&owner)
                    .fetch_optional(db.pool())
                    .await;
                    match renewed {
                        Ok(Some(c)) => cancel.store(c != 0, Ordering::Relaxed),
                        Ok(None) => {
                            lost.store(true, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, job = %id, "lease renewal failed"),
                    }
                }
            })
        };
        ctx.hold(format!(
            "attempt {} of {} started by {}",
            job.attempt, job.max_attempts, self.owner
        ));
        let result = match self.registry.get(&job.kind) {
            None => Err(JobError::permanent(
                "handler_unavailable",
                format!("no handler for jobs of type {} in this build", job.kind),
            )),
            Some(handler) => {
                let limit = std::time::Duration::from_secs(
                    u64::try_from(job.timeout_secs).unwrap_or(0).max(1),
                );
                match tokio::time::timeout(limit, handler.run(&ctx)).await {
                    Ok(r) => r,
                    Err(_) => Err(JobError::permanent(
                        "timeout",
                        format!("the job ran past its {} s limit", job.timeout_secs),
                    )),
                }
            }
        };
        renew.abort();
        if lost.load(Ordering::Relaxed) {
            // Another worker owns the job now; its run decides the outcome.
            tracing::warn!(job = %job.id, "lease lost while running; leaving the job to its new owner");
            return Ok(());
        }
        let result = match result {
            Err(_) if cancel.load(Ordering::Relaxed) => Err(JobError::Cancelled),
            other => other,
        };
        self.finish(&ctx, &job, result).await
    }

    async fn finish(
        &self,
        ctx: &JobContext,
        job: &Job,
        result: Result<(), JobError>,
    ) -> CoreResult<()> {
        let now_t = OffsetDateTime::now_utc();
        let now = clock::format(now_t);
        let (status, code, message, run_after, finished) = match &result {
            Ok(()) => ("succeeded", None, None, None, Some(now.clone())),
            Err(JobError::Cancelled) => (
                "cancelled",
                Some("cancelled".to_string()),
                Some("cancelled while running".to_string()),
                None,
                Some(now.clone()),
            ),
            Err(JobError::Transient { code, message }) if job.attempt < job.max_attempts => (
                "queued",
                Some(code.clone()),
                Some(message.clone()),
                Some(clock::format(now_t + backoff(job.attempt))),
                None,
            ),
            Err(JobError::Transient { code, message }) => (
                "failed",
                Some(code.clone()),
                Some(format!(
                    "{message} (gave up after {} attempts)",
                    job.attempt
                )),
                None,
                Some(now.clone()),
            ),
            Err(JobError::Permanent { code, message }) => (
                "failed",
                Some(code.clone()),
                Some(message.clone()),
                None,
                Some(now.clone()),
            ),
        };
        let line = match &result {
            Ok(()) => "succeeded".to_string(),
            Err(e) => format!("{status}: {e:?}"),
        };
        let _ = ctx.log("system", line).await;
        // Fenced on the lease: a worker that lost the job changes nothing.
        let updated = sqlx::query(
            "UPDATE jobs SET status = $1, error_code = $2, error_message = $3, \
             run_after = COALESCE($4, run_after), finished_at = $5, updated_at = $6, \
             progress = CASE WHEN $1 = 'succeeded' THEN 100 ELSE progress END, \
             lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $7 AND lease_owner = $8 AND status = 'running'",
        )
        .bind(status)
        .bind(&code)
        .bind(&message)
        .bind(&run_after)
        .bind(finished)
        .bind(&now)
        .bind(&job.id)
        .bind(&self.owner)
        .execute(self.db.pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(());
        }
        if status == "failed" {
            if let Some(handler) = self.registry.get(&job.kind) {
                handler
                    .failed(
                        ctx,
                        code.as_deref().unwrap_or("failed"),
                        message.as_deref().unwrap_or(""),
                    )
                    .await;
            }
        }
        let event = match (&result, status) {
            (Ok(()), _) => None,
            (Err(JobError::Cancelled), _) => Some(("info", "job.cancelled")),
            (Err(_), "queued") => Some(("warning", "job.retrying")),
            (Err(_), _) => Some(("error", "job.failed")),
        };
        if let Some((level, kind)) = event {
            let text = message.as_deref().unwrap_or("");
            let message = match status {
                "queued" => format!(
                    "{} job, attempt {} of {}: {text} (trying again at {})",
                    job.kind,
                    job.attempt,
                    job.max_attempts,
                    run_after.as_deref().unwrap_or("")
                ),
                _ => format!("{} job {status}: {text}", job.kind),
            };
            crate::events::record(
                &self.db,
                crate::events::NewEvent {
                    tenant_id: &job.tenant_id,
                    source: "queue",
                    level,
                    kind,
                    message,
                    job_id: Some(&job.id),
                    server_id: None,
                },
            )
            .await;
        }
        Ok(())
    }
}

/// Forward PostgreSQL notifications of new jobs (from any process) to this
/// process's workers. Reconnects after errors; a wake after reconnecting
/// covers notifications missed meanwhile.
async fn listen_for_jobs(db: Db) {
    loop {
        match sqlx::postgres::PgListener::connect(db.url()).await {
            Ok(mut l) => match l.listen(super::WAKE_CHANNEL).await {
                Ok(()) => {
                    db.wake_workers();
                    loop {
                        match l.recv().await {
                            Ok(_) => db.wake_workers(),
                            Err(e) => {
                                tracing::warn!(error = %e, "job notifications interrupted; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for jobs; polling"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for jobs; polling"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
