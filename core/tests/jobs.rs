//! The job engine on both backends: transactional enqueue, leases, steps,
//! retries with backoff, permanent errors, timeouts, cancellation and
//! per-target exclusivity.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use async_trait::async_trait;
use mooring_core::{
    db_test,
    identity::Principal,
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
    Db, DEFAULT_TENANT_ID,
};

fn operator() -> Principal {
    mooring_core::testkit::operator()
}

/// Two steps; the second fails the way `fail` says, the first `fail_times` attempts.
struct TwoSteps {
    first_runs: Arc<AtomicUsize>,
    second_runs: Arc<AtomicUsize>,
    fail_times: usize,
    fail: fn() -> JobError,
}

#[async_trait]
impl JobHandler for TwoSteps {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        ctx.step("first", || async {
            self.first_runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await?;
        ctx.progress(50, "halfway").await?;
        ctx.step("second", || async {
            let n = self.second_runs.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_times {
                Err((self.fail)())
            } else {
                Ok(())
            }
        })
        .await
    }
}

fn two_steps(
    fail_times: usize,
    fail: fn() -> JobError,
) -> (Registry, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let r = Registry::new().register(
        "test.two_steps",
        TwoSteps {
            first_runs: a.clone(),
            second_runs: b.clone(),
            fail_times,
            fail,
        },
    );
    (r, a, b)
}

async fn make_ready_now(db: &Db, id: &str) {
    sqlx::query("UPDATE jobs SET run_after = '2000-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
}

db_test!(
    async fn enqueue_commits_with_the_callers_transaction(db: Db) {
        let mut tx = db.pool().begin().await.unwrap();
        jobs::enqueue(
            &db,
            &mut tx,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "a rolled-back change leaves no job behind");
        let mut tx = db.pool().begin().await.unwrap();
        let id = jobs::enqueue(
            &db,
            &mut tx,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(jobs::load(&db, &id).await.unwrap().status, "queued");
    }
);

db_test!(
    async fn a_job_runs_its_steps_logs_and_succeeds(db: Db) {
        let (reg, first, second) = two_steps(0, || JobError::permanent("x", "x"));
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        let w = Worker::new(db.clone(), reg);
        assert!(w.run_one().await.unwrap());
        assert!(!w.run_one().await.unwrap(), "nothing left");
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.progress, job.attempt),
            ("succeeded", 100, 1)
        );
        assert!(job.started_at.is_some() && job.finished_at.is_some());
        assert_eq!(
            (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)),
            (1, 1)
        );
        let log: Vec<String> = jobs::log_lines(&db, &id, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert!(
            log.iter().any(|l| l == "step first: started")
                && log.iter().any(|l| l == "step second: finished"),
            "{log:?}"
        );
        assert_eq!(log.last().unwrap(), "succeeded");
        let seqs: Vec<i64> = jobs::log_lines(&db, &id, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.seq)
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "log lines are in order: {seqs:?}"
        );
    }
);

db_test!(
    async fn transient_errors_retry_later_and_resume_after_finished_steps(db: Db) {
        let (reg, first, second) = two_steps(1, || {
            JobError::transient("node_unreachable", "connection refused")
        });
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        let w = Worker::new(db.clone(), reg);
        w.run_one().await.unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(job.status, "queued");
        assert_eq!(job.error_code.as_deref(), Some("node_unreachable"));
        assert!(
            job.run_after > mooring_core::clock::now(),
            "backs off before the next attempt"
        );
        assert!(!w.run_one().await.unwrap(), "not ready during the backoff");
        make_ready_now(&db, &id).await;
        w.run_one().await.unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!((job.status.as_str(), job.attempt), ("succeeded", 2));
        assert_eq!(
            first.load(Ordering::SeqCst),
            1,
            "the finished first step was skipped on the retry"
        );
        assert_eq!(second.load(Ordering::SeqCst), 2);
    }
);

db_test!(
    async fn transient_errors_give_up_after_max_attempts(db: Db) {
        let (reg, _, _) = two_steps(99, || {
            JobError::transient("node_unreachable", "connection refused")
        });
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})).max_attempts(2),
        )
        .await
        .unwrap();
        let w = Worker::new(db.clone(), reg);
        w.run_one().await.unwrap();
        make_ready_now(&db, &id).await;
        w.run_one().await.unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(job.status, "failed");
        assert!(job
            .error_message
            .unwrap()
            .contains("gave up after 2 attempts"));
    }
);

db_test!(
    async fn permanent_errors_fail_at_once_and_retry_requeues(db: Db) {
        let (reg, first, _) = two_steps(1, || {
            JobError::permanent("bad_template", "no such template")
        });
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        let w = Worker::new(db.clone(), reg);
        w.run_one().await.unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("failed", Some("bad_template"))
        );
        // Retry: queued again, from the unfinished step.
        let again = jobs::retry(&db, &operator(), &id).await.unwrap();
        assert_eq!((again.status.as_str(), again.error_code), ("queued", None));
        w.run_one().await.unwrap();
        assert_eq!(jobs::load(&db, &id).await.unwrap().status, "succeeded");
        assert_eq!(first.load(Ordering::SeqCst), 1);
        // Only failed or cancelled jobs can be retried.
        assert!(matches!(
            jobs::retry(&db, &operator(), &id).await,
            Err(mooring_core::CoreError::Conflict(_))
        ));
    }
);

struct Sleeper;

#[async_trait]
impl JobHandler for Sleeper {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        for _ in 0..40 {
            ctx.step(&format!("tick-{}", uuid::Uuid::new_v4()), || async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

db_test!(
    async fn a_job_past_its_timeout_fails_with_timeout(db: Db) {
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.sleep", serde_json::json!({}))
                .timeout(std::time::Duration::from_secs(1)),
        )
        .await
        .unwrap();
        Worker::new(db.clone(), Registry::new().register("test.sleep", Sleeper))
            .run_one()
            .await
            .unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("failed", Some("timeout"))
        );
    }
);

db_test!(
    async fn cancel_stops_queued_jobs_at_once_and_running_ones_at_the_next_step(db: Db) {
        let queued = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.sleep", serde_json::json!({})),
        )
        .await
        .unwrap();
        let job = jobs::cancel(&db, &operator(), &queued).await.unwrap();
        assert_eq!(job.status, "cancelled");
        assert!(matches!(
            jobs::cancel(&db, &operator(), &queued).await,
            Err(mooring_core::CoreError::Conflict(_))
        ));

        let running = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.sleep", serde_json::json!({})),
        )
        .await
        .unwrap();
        let w = Worker::new(db.clone(), Registry::new().register("test.sleep", Sleeper))
            .lease(time::Duration::seconds(1));
        let task = tokio::spawn(async move { w.run_one().await.unwrap() });
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(jobs::load(&db, &running).await.unwrap().status, "running");
        jobs::cancel(&db, &operator(), &running).await.unwrap();
        task.await.unwrap();
        let job = jobs::load(&db, &running).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("cancelled", Some("cancelled"))
        );
    }
);

db_test!(
    async fn one_running_job_per_target(db: Db) {
        let a = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "k", serde_json::json!({})).target("site", "s1"),
        )
        .await
        .unwrap();
        let b = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "k", serde_json::json!({})).target("site", "s1"),
        )
        .await
        .unwrap();
        let c = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "k", serde_json::json!({})).target("site", "s2"),
        )
        .await
        .unwrap();
        let lease = time::Duration::seconds(30);
        let first = jobs::claim(&db, "w1", lease).await.unwrap().unwrap();
        assert_eq!(first.id, a);
        let second = jobs::claim(&db, "w2", lease).await.unwrap().unwrap();
        assert_eq!(
            second.id, c,
            "the other job of site s1 waits; site s2's runs"
        );
        assert!(jobs::claim(&db, "w3", lease).await.unwrap().is_none());
        // The database itself refuses a second running job for a target.
        let forced = sqlx::query("UPDATE jobs SET status = 'running' WHERE id = $1")
            .bind(&b)
            .execute(db.pool())
            .await;
        assert!(forced.is_err(), "unique index on running jobs per target");
    }
);

db_test!(
    async fn an_expired_lease_is_claimed_again_and_the_old_owner_is_fenced_out(db: Db) {
        let (reg, _, second) = two_steps(0, || JobError::permanent("x", "x"));
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
        )
        .await
        .unwrap();
        // A worker claims with a lease that is already over (as if it died).
        let dead = jobs::claim(&db, "dead-worker", time::Duration::seconds(-1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dead.attempt, 1);
        let w = Worker::new(db.clone(), reg);
        assert!(w.run_one().await.unwrap(), "the job is claimed again");
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!((job.status.as_str(), job.attempt), ("succeeded", 2));
        assert_eq!(second.load(Ordering::SeqCst), 1);
    }
);

db_test!(
    async fn jobs_of_unknown_types_fail_clearly(db: Db) {
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(
                DEFAULT_TENANT_ID,
                "cloudpod.provision",
                serde_json::json!({}),
            ),
        )
        .await
        .unwrap();
        Worker::new(db.clone(), Registry::new())
            .run_one()
            .await
            .unwrap();
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("failed", Some("handler_unavailable"))
        );
    }
);

db_test!(
    async fn worker_pools_drain_the_queue_without_running_a_job_twice(db: Db) {
        let (reg, first, second) = two_steps(0, || JobError::permanent("x", "x"));
        for _ in 0..30 {
            jobs::enqueue_now(
                &db,
                NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
            )
            .await
            .unwrap();
        }
        // Three workers (as in three server processes), three jobs at a time each.
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = stop.subscribe();
                let w = Worker::new(db.clone(), reg.clone()).concurrency(3);
                tokio::spawn(w.run(async move {
                    let _ = rx.recv().await;
                }))
            })
            .collect();
        let mut done = 0;
        for _ in 0..200 {
            done = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            if done == 30 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        stop.send(()).unwrap();
        for w in workers {
            w.await.unwrap();
        }
        assert_eq!(done, 30);
        assert_eq!(first.load(Ordering::SeqCst), 30, "no job ran twice");
        assert_eq!(second.load(Ordering::SeqCst), 30);
    }
);

db_test!(
    async fn the_system_check_job_checks_the_database_and_data_dir(db: Db) {
        use mooring_core::jobs::system_check::{SystemCheck, KIND};
        let dir = std::env::temp_dir().join(format!("mooring-check-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, KIND, serde_json::json!({})),
        )
        .await
        .unwrap();
        Worker::new(
            db.clone(),
            Registry::new().register(
                KIND,
                SystemCheck {
                    data_dir: dir.clone(),
                },
            ),
        )
        .run_one()
        .await
        .unwrap();
        let job = jobs::load(&db, &ok).await.unwrap();
        assert_eq!(job.status, "succeeded", "{job:?}");
        let log: Vec<String> = jobs::log_lines(&db, &ok, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect();
        assert!(
            log.iter()
                .any(|l| l.starts_with("database (") && l.contains("answered in")),
            "{log:?}"
        );
        assert!(log.iter().any(|l| l.contains("is writable")), "{log:?}");
        let bad = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, KIND, serde_json::json!({})),
        )
        .await
        .unwrap();
        Worker::new(
            db.clone(),
            Registry::new().register(
                KIND,
                SystemCheck {
                    data_dir: dir.join("missing/deeper"),
                },
            ),
        )
        .run_one()
        .await
        .unwrap();
        let job = jobs::load(&db, &bad).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("failed", Some("data_dir_unwritable"))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
);

db_test!(
    async fn dashboard_counters_count_the_queue_and_recent_failures(db: Db) {
        let (reg, _, _) = two_steps(99, || JobError::permanent("broken", "x"));
        for _ in 0..2 {
            jobs::enqueue_now(
                &db,
                NewJob::new(DEFAULT_TENANT_ID, "test.two_steps", serde_json::json!({})),
            )
            .await
            .unwrap();
        }
        Worker::new(db.clone(), reg).run_one().await.unwrap();
        jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "k", serde_json::json!({})).target("x", "1"),
        )
        .await
        .unwrap();
        jobs::claim(&db, "w", time::Duration::seconds(30))
            .await
            .unwrap();
        let c = jobs::counters(&db, &operator()).await.unwrap();
        assert_eq!((c.running, c.queued, c.failed_24h), (1, 1, 1));
    }
);
