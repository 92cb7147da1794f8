//! Job engine benchmark: no-op jobs per second and enqueue→start latency, on
//! SQLite and PostgreSQL. Run with `./x bench` (it starts PostgreSQL on
//! loopback and sets `MOORING_TEST_PG_URL`), or `cargo bench -p mooring-core
//! --bench jobs` with that variable set (SQLite only without it).
//!
//! Throughput: N jobs are enqueued first, then one worker process (this one)
//! with `concurrency` slots drains them; jobs/s = N / drain time.
//! Latency: with the worker idle, jobs are enqueued one at a time and the
//! time from `enqueue_now` returning to the handler starting is recorded.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use mooring_core::{
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
    testkit, Db, DEFAULT_TENANT_ID,
};

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

/// Records when each job started, by job id.
struct Stamp(Arc<Mutex<Vec<(String, Instant)>>>);

#[async_trait]
impl JobHandler for Stamp {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        self.0
            .lock()
            .unwrap()
            .push((ctx.job.id.clone(), Instant::now()));
        Ok(())
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn remaining(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn throughput(db: &Db, n: usize, concurrency: usize) -> f64 {
    // Enqueue in transactions of 500 (enqueue speed is not what is measured).
    let mut left = n;
    while left > 0 {
        let mut tx = db.pool().begin().await.unwrap();
        for _ in 0..left.min(500) {
            jobs::enqueue(
                db,
                &mut tx,
                NewJob::new(DEFAULT_TENANT_ID, "bench.noop", serde_json::json!({})),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        left = left.saturating_sub(500);
    }
    let worker = Worker::new(db.clone(), Registry::new().register("bench.noop", Noop))
        .concurrency(concurrency);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));
    while remaining(db).await > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let _ = stop_tx.send(());
    handle.await.unwrap();
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status <> 'succeeded'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(failed, 0, "every benchmark job succeeds");
    n as f64 / took.as_secs_f64()
}

async fn latency(db: &Db, samples: usize) -> Vec<Duration> {
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let worker = Worker::new(
        db.clone(),
        Registry::new().register("bench.stamp", Stamp(stamps.clone())),
    )
    .concurrency(4);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut enqueued = Vec::with_capacity(samples);
    for _ in 0..samples {
        let id = jobs::enqueue_now(
            db,
            NewJob::new(DEFAULT_TENANT_ID, "bench.stamp", serde_json::json!({})),
        )
        .await
        .unwrap();
        enqueued.push((id, Instant::now()));
        // Let the worker go idle again between samples.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while remaining(db).await > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop_tx.send(());
    handle.await.unwrap();
    let stamps = stamps.lock().unwrap();
    let mut out: Vec<Duration> = enqueued
        .iter()
        .map(|(id, at)| {
            let (_, started) = stamps.iter().find(|(j, _)| j == id).expect("job ran");
            started.saturating_duration_since(*at)
        })
        .collect();
    out.sort();
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run(name: &str, db: Db, n: usize, concurrency: usize, samples: usize) {
    let rate = throughput(&db, n, concurrency).await;
    let lat = latency(&db, samples).await;
    println!(
        "{name:<10} {rate:>8.0} jobs/s ({n} no-op jobs, {concurrency} slots)   enqueue→start p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms ({samples} samples)",
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 0.99)
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        200
    } else {
        env_usize("MOORING_BENCH_JOBS", 10_000)
    };
    let concurrency = env_usize("MOORING_BENCH_CONCURRENCY", 16);
    let samples = if quick {
        20
    } else {
        env_usize("MOORING_BENCH_SAMPLES", 200)
    };
    println!("Mooring job engine benchmark");
    let sqlite = testkit::sqlite().await;
    run("sqlite", sqlite.db.clone(), n, concurrency, samples).await;
    if std::env::var("MOORING_TEST_PG_URL").is_ok() {
        let pg = testkit::postgres().await;
        run("postgres", pg.db.clone(), n, concurrency, samples).await;
    } else {
        println!("postgres   skipped (set MOORING_TEST_PG_URL, or run ./x bench)");
    }
}
