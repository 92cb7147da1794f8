//! `system.check`: a job that checks this installation end to end (the
//! database round trip and schema, the data directory). Operators start it
//! from the System page; it is also the simplest example of a job handler.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{JobContext, JobError, JobHandler};

pub const KIND: &str = "system.check";

/// Queue a system check for `p`'s tenant (operators); returns the job's id.
pub async fn request(db: &crate::Db, p: &crate::identity::Principal) -> crate::CoreResult<String> {
    p.require_operator("only operators check the system")?;
    let job = super::NewJob::new(&p.tenant_id, KIND, serde_json::json!({}))
        .target("installation", "system")
        .max_attempts(1)
        .timeout(std::time::Duration::from_secs(60));
    super::enqueue_now(db, job).await
}

/// Checks the installation; holds what it needs to look at.
pub struct SystemCheck {
    pub data_dir: PathBuf,
}

#[async_trait]
impl JobHandler for SystemCheck {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        ctx.progress(10, "database").await?;
        ctx.step("database", || async {
            let started = std::time::Instant::now();
            ctx.db().ping().await?;
            let status = ctx.db().migration_status().await?;
            ctx.log(
                "stdout",
                format!(
                    "database ({}) answered in {} ms; schema at {}",
                    ctx.db().backend().name(),
                    started.elapsed().as_millis(),
                    status.latest_applied.unwrap_or_default()
                ),
            )
            .await?;
            if !status.up_to_date() {
                return Err(JobError::permanent(
                    "schema_outdated",
                    "migrations are pending: run `mooring migrate`",
                ));
            }
            Ok(())
        })
        .await?;
        ctx.step("database latency", || async {
            // A spread of round trips says more than one: min, average, max.
            let mut ms = Vec::with_capacity(10);
            for i in 0..10 {
                let t = std::time::Instant::now();
                ctx.db().ping().await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                ctx.progress(20 + i * 4, "database latency").await?;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let (min, max) = ms
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let avg = ms.iter().sum::<f64>() / ms.len() as f64;
            ctx.log(
                "stdout",
                format!("round trips: min {min:.2} ms, avg {avg:.2} ms, max {max:.2} ms"),
            )
            .await?;
            Ok(())
        })
        .await?;
        ctx.progress(60, "data directory").await?;
        ctx.step("data directory", || async {
            let probe = self.data_dir.join(format!(".check-{}", ctx.job.id));
            tokio::fs::write(&probe, b"ok").await.map_err(|e| {
                JobError::permanent(
                    "data_dir_unwritable",
                    format!("{}: {e}", self.data_dir.display()),
                )
            })?;
            tokio::fs::remove_file(&probe).await.map_err(|e| {
                JobError::permanent(
                    "data_dir_unwritable",
                    format!("{}: {e}", self.data_dir.display()),
                )
            })?;
            ctx.log(
                "stdout",
                format!("data directory {} is writable", self.data_dir.display()),
            )
            .await?;
            Ok(())
        })
        .await?;
        ctx.progress(100, "done").await?;
        Ok(())
    }
}
