//! The job queue across real `mooring serve` processes: killed with SIGKILL
//! mid-work and restarted (both backends), and two processes sharing one
//! PostgreSQL database.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mooring_core::{
    jobs::{
        self,
        schedule::{self, NewSchedule},
        NewJob,
    },
    testkit::{self, TestDb},
    Db, DEFAULT_TENANT_ID,
};
use serde_json::json;

/// Start `mooring serve` on `url`; returns once it listens.
fn serve(url: &str, dir: &std::path::Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mooring"))
        .current_dir(dir)
        .env_remove("MOORING_CONFIG")
        .env_remove("MOORING_SITE_DIR")
        .env("DATABASE_URL", url)
        .env("MOORING_DATA_DIR", dir.join("data"))
        .env("MOORING_BIND", "127.0.0.1:0")
        .env("MOORING_ADMIN_PASSWORD", "queue test admin password")
        .env("MOORING_JOB_LEASE_SECS", "2")
        .env("MOORING_WORKER_CONCURRENCY", "16")
        .env("MOORING_LOG", "error")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start mooring serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .expect("serve printed its URL")
            .expect("read serve output");
        if line.starts_with("Mooring is running at ") {
            break;
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` no-op jobs, each recording its own idempotency key; every fifth is
/// about one of ten targets (so exclusivity per target is exercised too).
async fn enqueue_keyed(db: &Db, n: usize, sleep_ms: u64) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut tx = db.pool().begin().await.unwrap();
    for i in 0..n {
        let mut job = NewJob::new(
            DEFAULT_TENANT_ID,
            jobs::noop::KIND,
            json!({ "key": format!("effect-{i}"), "sleepMs": sleep_ms }),
        )
        .max_attempts(50);
        if i % 5 == 0 {
            job = job.target("site", format!("site-{}", i % 10));
        }
        ids.push(jobs::enqueue(db, &mut tx, job).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

async fn wait_until_done(db: &Db, limit: Duration) {
    let started = Instant::now();
    loop {
        let open = count(
            db,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'system.noop' AND schedule_id IS NULL AND status IN ('queued', 'running')",
        )
        .await;
        if open == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{open} jobs still open after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every keyed job succeeded and recorded its side effect exactly once.
async fn assert_each_effect_once(db: &Db, n: i64) {
    let succeeded = count(
        db,
        "SELECT COUNT(*) FROM jobs WHERE kind = 'system.noop' AND schedule_id IS NULL AND status = 'succeeded'",
    )
    .await;
    assert_eq!(succeeded, n, "every job ends succeeded");
    assert_eq!(count(db, "SELECT COUNT(*) FROM job_effects").await, n);
    let twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT effect_key, COUNT(*) FROM job_effects GROUP BY effect_key HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(twice.is_empty(), "side effects recorded twice: {twice:?}");
}

/// The handlers of one target's jobs never ran at the same time (the
/// handler's own start and end, which lie inside the claim and the finish).
async fn assert_targets_exclusive(db: &Db) {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT j.target_id, e.started_at, e.recorded_at FROM jobs j JOIN job_effects e ON e.job_id = j.id \
         WHERE j.target_id IS NOT NULL ORDER BY j.target_id, e.started_at",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut by_target: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (t, s, f) in rows {
        by_target.entry(t).or_default().push((s, f));
    }
    for (t, runs) in by_target {
        for w in runs.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "two jobs of {t} overlapped: {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
}

async fn killed_and_restarted(t: TestDb) {
    const N: usize = 500;
    let db = t.db.clone();
    enqueue_keyed(&db, N, 40).await;
    let dir = tempfile::tempdir().unwrap();
    let mut kills = 0;
    let mut interrupted = 0;
    while kills < 6 {
        let mut child = serve(&t.url, dir.path());
        tokio::time::sleep(Duration::from_millis(250 + 150 * (kills % 3))).await;
        let running = count(&db, "SELECT COUNT(*) FROM jobs WHERE status = 'running'").await;
        child.kill().unwrap(); // SIGKILL: no chance to finish or release anything
        child.wait().unwrap();
        kills += 1;
        interrupted += running;
    }
    assert!(interrupted > 0, "the kills interrupted running jobs");
    let child = serve(&t.url, dir.path());
    wait_until_done(&db, Duration::from_secs(120)).await;
    stop(child);
    assert_each_effect_once(&db, N as i64).await;
    assert_targets_exclusive(&db).await;
    // The engine saw the dead workers' jobs and ran them again.
    assert!(count(&db, "SELECT COUNT(*) FROM jobs WHERE attempt > 1").await > 0);
    assert!(
        count(
            &db,
            "SELECT COUNT(*) FROM system_events WHERE kind = 'job.requeued'"
        )
        .await
            > 0
    );
}

mooring_core::on_both_backends!(killed_and_restarted);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_postgresql_queue() {
    const N: usize = 300;
    let t = testkit::postgres().await;
    let db = t.db.clone();
    // Every second, in both processes' schedulers.
    let every_second = schedule::ensure(
        &db,
        NewSchedule {
            tenant_id: DEFAULT_TENANT_ID.into(),
            name: "every-second".into(),
            cron: "* * * * * *".into(),
            kind: jobs::noop::KIND.into(),
            payload: json!({}),
            target: None,
        },
    )
    .await
    .unwrap();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = serve(&t.url, dir_a.path());
    let b = serve(&t.url, dir_b.path());
    let started = Instant::now();
    enqueue_keyed(&db, N, 15).await;
    wait_until_done(&db, Duration::from_secs(120)).await;
    let ran_for = started.elapsed().max(Duration::from_secs(4));
    tokio::time::sleep(ran_for.saturating_sub(started.elapsed())).await;
    stop(a);
    stop(b);

    assert_each_effect_once(&db, N as i64).await;
    assert_targets_exclusive(&db).await;
    assert_eq!(
        count(
            &db,
            "SELECT MAX(attempt) FROM jobs WHERE schedule_id IS NULL"
        )
        .await,
        1,
        "no job was claimed twice"
    );
    // Both processes did work.
    let starters: Vec<(String,)> =
        sqlx::query_as("SELECT line FROM job_logs WHERE line LIKE 'attempt 1 of % started by %'")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let owners: HashSet<String> = starters
        .iter()
        .filter_map(|(l,)| l.rsplit(' ').next().map(str::to_string))
        .collect();
    assert_eq!(owners.len(), 2, "both processes ran jobs: {owners:?}");
    // The schedule ran about once a second, never twice for one second.
    let runs: Vec<(String,)> =
        sqlx::query_as("SELECT scheduled_for FROM jobs WHERE schedule_id = $1")
            .bind(&every_second.id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    let distinct: HashSet<&String> = runs.iter().map(|(r,)| r).collect();
    assert_eq!(distinct.len(), runs.len(), "a run was enqueued twice");
    assert!(runs.len() >= 3, "the schedule ran: {} runs", runs.len());
}
