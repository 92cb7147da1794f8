//! `GET /metrics`: Prometheus text exposition. HTTP requests by route,
//! method and status, a latency histogram per route (kept in memory by
//! [`track`]), and the job queue read from the database at scrape time (so
//! every process reports the same queue).

use std::{collections::BTreeMap, fmt::Write, sync::Mutex, time::Instant};

use super::error::ApiError;
use crate::state::AppState;
use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// HTTP counters of this process.
#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl HttpMetrics {
    fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_string(), method.to_string(), status))
                .or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route.to_string()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }
}

/// Middleware: count and time every request by its route pattern (never by
/// its raw path, so ids do not explode the label set).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn expose(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP mooring_http_requests_total HTTP requests by route, method and status."
    );
    let _ = writeln!(out, "# TYPE mooring_http_requests_total counter");
    if let Ok(r) = state.metrics.requests.lock() {
        for ((route, method, status), n) in r.iter() {
            let _ = writeln!(
                out,
                "mooring_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                label(route),
                label(method)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP mooring_http_request_duration_seconds Time to answer, by route."
    );
    let _ = writeln!(
        out,
        "# TYPE mooring_http_request_duration_seconds histogram"
    );
    if let Ok(l) = state.metrics.latency.lock() {
        for (route, h) in l.iter() {
            let route = label(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "mooring_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(
                out,
                "mooring_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "mooring_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "mooring_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
    }
    // The queue, from the database.
    let q = mooring_core::jobs::queue_stats(&state.db).await?;
    let _ = writeln!(out, "# HELP mooring_jobs Jobs by type and status.");
    let _ = writeln!(out, "# TYPE mooring_jobs gauge");
    for (kind, status, n) in &q.by_kind_status {
        let _ = writeln!(
            out,
            "mooring_jobs{{type=\"{}\",status=\"{}\"}} {n}",
            label(kind),
            label(status)
        );
    }
    let _ = writeln!(
        out,
        "# HELP mooring_job_queue_depth Jobs ready to run and waiting for a worker."
    );
    let _ = writeln!(out, "# TYPE mooring_job_queue_depth gauge");
    let _ = writeln!(out, "mooring_job_queue_depth {}", q.depth);
    let _ = writeln!(out, "# HELP mooring_job_duration_seconds Run time of the last finished jobs (up to 1000), by type.");
    let _ = writeln!(out, "# TYPE mooring_job_duration_seconds summary");
    for (kind, sum, count) in &q.durations {
        let kind = label(kind);
        let _ = writeln!(
            out,
            "mooring_job_duration_seconds_sum{{type=\"{kind}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "mooring_job_duration_seconds_count{{type=\"{kind}\"}} {count}"
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
