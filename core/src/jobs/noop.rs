//! `system.noop`: a job that does nothing but (optionally) wait and record
//! one side effect by idempotency key. The queue self-test, the benchmark and
//! the crash tests run it; it is also how an operator checks that workers are
//! alive.

use async_trait::async_trait;
use serde::Deserialize;

use super::worker::{JobContext, JobError, JobHandler};
use crate::{clock, CoreError};

pub const KIND: &str = "system.noop";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    /// Record one row in `job_effects` under this key, at most once.
    key: Option<String>,
    /// Wait this long first (cancellable).
    #[serde(default)]
    sleep_ms: u64,
}

pub struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let started = clock::now();
        let p: Payload = ctx.payload()?;
        let mut left = p.sleep_ms.min(60_000);
        while left > 0 {
            if ctx.cancelled() {
                return Err(JobError::Cancelled);
            }
            let nap = left.min(100);
            tokio::time::sleep(std::time::Duration::from_millis(nap)).await;
            left -= nap;
        }
        if let Some(key) = p.key {
            // Idempotent by key: a rerun after a crash records nothing new.
            sqlx::query(
                "INSERT INTO job_effects (effect_key, job_id, started_at, recorded_at) \
                 SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM job_effects WHERE effect_key = $1)",
            )
            .bind(&key)
            .bind(&ctx.job.id)
            .bind(&started)
            .bind(clock::now())
            .execute(ctx.db().pool())
            .await
            .map_err(CoreError::from)?;
        }
        Ok(())
    }
}
