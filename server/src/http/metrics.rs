//! `GET /metrics`: Prometheus text exposition, produced by the `prometheus`
//! crate from one registry per process ([`Metrics`], kept in `AppState`).
//!
//! - HTTP requests by route, method and status, and a latency histogram per
//!   route, counted in memory by [`track`].
//! - The job queue (jobs by type and status, the queue depth, run times by
//!   type): a snapshot of the database's numbers, refreshed in the background
//!   every [`JOB_REFRESH`] by [`spawn_job_refresh`] (started by `mooring
//!   serve`), so every process reports the same queue and a scrape never runs
//!   an aggregate query. Only a scrape that comes before the first snapshot
//!   reads the queue itself, once.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::state::AppState;
use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use mooring_core::{jobs::QueueStats, Db};
use prometheus::{
    core::{Collector, Desc},
    proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType, Summary},
    HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the background task reads the job queue.
pub const JOB_REFRESH: Duration = Duration::from_secs(10);

/// The label order of the exposition (the crate sorts labels by name; this
/// keeps the order the metrics have always had: route, method, status).
const LABEL_ORDER: [&str; 4] = ["route", "method", "type", "status"];

/// This process's metrics: one Prometheus registry with the HTTP counters and
/// the job gauges.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    jobs: Arc<JobGauges>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // The names, labels and buckets are constants: these cannot fail.
        let requests = IntCounterVec::new(
            Opts::new(
                "mooring_http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid counter definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "mooring_http_request_duration_seconds",
                "Time to answer, by route.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid histogram definition");
        let jobs = Arc::new(JobGauges::new());
        let registry = Registry::new();
        registry
            .register(Box::new(requests.clone()))
            .expect("first registration");
        registry
            .register(Box::new(latency.clone()))
            .expect("first registration");
        registry
            .register(Box::new(JobCollector(jobs.clone())))
            .expect("first registration");
        Metrics {
            registry,
            requests,
            latency,
            jobs,
        }
    }

    /// Count one answered request.
    pub fn observe(&self, method: &str, route: &str, status: &str, secs: f64) {
        self.requests
            .with_label_values(&[route, method, status])
            .inc();
        self.latency.with_label_values(&[route]).observe(secs);
    }

    /// Read the queue's numbers from the database and keep them for the
    /// following scrapes.
    pub async fn refresh_jobs(&self, db: &Db) -> mooring_core::CoreResult<()> {
        let stats = mooring_core::jobs::queue_stats(db).await?;
        self.jobs.set(stats);
        Ok(())
    }

    /// Whether the job gauges hold a snapshot yet.
    pub fn has_job_snapshot(&self) -> bool {
        self.jobs.read(|s| s.is_some())
    }

    /// The text exposition of everything in the registry (no database access).
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        for family in &mut families {
            for metric in family.mut_metric() {
                metric.mut_label().sort_by_key(|l| {
                    LABEL_ORDER
                        .iter()
                        .position(|n| *n == l.name())
                        .unwrap_or(LABEL_ORDER.len())
                });
            }
        }
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// The last snapshot of the job queue.
struct JobGauges {
    descs: Vec<Desc>,
    last: RwLock<Option<QueueStats>>,
}

impl JobGauges {
    fn new() -> JobGauges {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(
                name.to_string(),
                help.to_string(),
                labels.iter().map(|l| l.to_string()).collect(),
                HashMap::new(),
            )
            .expect("valid gauge definition")
        };
        JobGauges {
            descs: vec![
                desc(
                    "mooring_jobs",
                    "Jobs by type and status.",
                    &["type", "status"],
                ),
                desc(
                    "mooring_job_queue_depth",
                    "Jobs ready to run and waiting for a worker.",
                    &[],
                ),
                desc(
                    "mooring_job_duration_seconds",
                    "Run time of the last finished jobs (up to 1000), by type.",
                    &["type"],
                ),
            ],
            last: RwLock::new(None),
        }
    }

    fn set(&self, stats: QueueStats) {
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }

    fn read<T>(&self, f: impl FnOnce(&Option<QueueStats>) -> T) -> T {
        f(&self.last.read().unwrap_or_else(|e| e.into_inner()))
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut l = LabelPair::default();
            l.set_name(name.to_string());
            l.set_value(value.to_string());
            l
        })
        .collect()
}

fn family(desc: &Desc, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(desc.fq_name.clone());
    f.set_help(desc.help.clone());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn gauge(value: f64, label_pairs: Vec<LabelPair>) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_gauge(g);
    m.set_label(label_pairs);
    m
}

/// Exposes [`JobGauges`]'s snapshot (nothing before the first one).
struct JobCollector(Arc<JobGauges>);

impl Collector for JobCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let d = &self.0.descs;
        self.0.read(|last| {
            let Some(q) = last else {
                return Vec::new();
            };
            let by_status = q
                .by_kind_status
                .iter()
                .map(|(kind, status, n)| {
                    gauge(*n as f64, labels(&[("type", kind), ("status", status)]))
                })
                .collect();
            let durations = q
                .durations
                .iter()
                .map(|(kind, sum, count)| {
                    let mut s = Summary::default();
                    s.set_sample_sum(*sum);
                    s.set_sample_count(*count);
                    let mut m = Metric::default();
                    m.set_summary(s);
                    m.set_label(labels(&[("type", kind)]));
                    m
                })
                .collect();
            vec![
                family(&d[0], MetricType::GAUGE, by_status),
                family(
                    &d[1],
                    MetricType::GAUGE,
                    vec![gauge(q.depth as f64, Vec::new())],
                ),
                family(&d[2], MetricType::SUMMARY, durations),
            ]
        })
    }
}

/// Keep the job gauges fresh: read the queue now and every [`JOB_REFRESH`]
/// until the task is aborted. A failed read keeps the last snapshot.
pub fn spawn_job_refresh(metrics: Arc<Metrics>, db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(JOB_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = metrics.refresh_jobs(&db).await {
                tracing::warn!(error = %e, "cannot refresh the job metrics (keeping the last numbers)");
            }
        }
    })
}

/// Middleware: count and time every request by its route pattern (never by
/// its raw path, so ids do not explode the label set).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        resp.status().as_str(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// `GET /metrics`. Answers from memory; the database is read only when no
/// snapshot of the queue exists yet (and a failure to read it only leaves the
/// job gauges out).
pub async fn expose(State(state): State<AppState>) -> Response {
    if !state.metrics.has_job_snapshot() {
        if let Err(e) = state.metrics.refresh_jobs(&state.db).await {
            tracing::warn!(error = %e, "cannot read the job queue for /metrics");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mooring_core::jobs::{enqueue_now, NewJob};

    #[tokio::test]
    async fn job_gauges_come_from_the_last_refresh_not_from_the_scrape() {
        let t = mooring_core::testkit::sqlite().await;
        let m = Metrics::new();
        m.observe("GET", "/health", "200", 0.002);
        let text = m.render();
        assert!(!text.contains("mooring_job_queue_depth"), "{text}");
        assert!(
            text.contains(
                "mooring_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mooring_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        let job = || {
            NewJob::new(
                mooring_core::DEFAULT_TENANT_ID,
                "site.backup",
                serde_json::json!({}),
            )
        };
        enqueue_now(&t.db, job()).await.unwrap();
        m.refresh_jobs(&t.db).await.unwrap();
        assert!(m.has_job_snapshot());
        let text = m.render();
        assert!(
            text.contains("mooring_jobs{type=\"site.backup\",status=\"queued\"} 1"),
            "{text}"
        );
        assert!(text.contains("mooring_job_queue_depth 1"), "{text}");
        // A second job shows only after the next refresh.
        enqueue_now(&t.db, job()).await.unwrap();
        assert!(m.render().contains("mooring_job_queue_depth 1"));
        m.refresh_jobs(&t.db).await.unwrap();
        let text = m.render();
        assert!(text.contains("mooring_job_queue_depth 2"), "{text}");
        assert!(
            text.contains("mooring_jobs{type=\"site.backup\",status=\"queued\"} 2"),
            "{text}"
        );
    }
}
