//! Every surface answers in its contract's shape: health, unknown routes,
//! wrong methods, malformed JSON, wrong content types, oversized bodies.

use crate::common::TestServer;
use axum::{routing::post, Json, Router};
use mooring_server::http::{
    error::{ApiError, ApiJson},
    surface_layers,
};
use reqwest::{header::CONTENT_TYPE, StatusCode};
use serde_json::{json, Value};

async fn get_json(s: &TestServer, path: &str) -> (StatusCode, Value) {
    let r = s.client.get(s.url(path)).send().await.unwrap();
    let status = r.status();
    let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
    assert!(
        ct.starts_with("application/json"),
        "{path}: content-type {ct}"
    );
    (status, r.json().await.unwrap())
}

async fn health_on(t: mooring_core::testkit::TestDb) {
    let s = TestServer::start(t).await;
    let (st, b) = get_json(&s, "/health").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b, json!({ "ok": true, "status": "ok" }));
    let (st, b) = get_json(&s, "/api/health").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b, json!({ "status": "ok", "service": "mpanel-api" }));
    let (st, b) = get_json(&s, "/api/v1/health").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["version"], mooring_core::VERSION);
    // Status is for operators (health is the probe for load balancers).
    let (st, _) = get_json(&s, "/api/status").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    mooring_core::users::ensure_admin(
        &s.db.db,
        "ops@example.com",
        secrecy::SecretString::from("correct horse battery"),
    )
    .await
    .unwrap();
    let jwt = s.jwt("ops@example.com", "correct horse battery").await;
    let status = || async {
        let r = s
            .client
            .get(s.url("/api/status"))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()
    };
    let b = status().await;
    assert_eq!(b["service"], "mpanel-api");
    assert_eq!(b["dependencies"]["database"], "ok");
    assert_eq!(b["dependencies"]["queue"], "ok", "{b}");
    assert!(b["uptimeSeconds"].is_u64());
    // A job ready to run that nobody took for ten minutes: no worker runs.
    let job = mooring_core::jobs::enqueue_now(
        &s.db.db,
        mooring_core::jobs::NewJob::new(mooring_core::DEFAULT_TENANT_ID, "noop", json!({})),
    )
    .await
    .unwrap();
    let ten_minutes_ago =
        mooring_core::clock::format(time::OffsetDateTime::now_utc() - time::Duration::minutes(10));
    sqlx::query("UPDATE jobs SET run_after = $1 WHERE id = $2")
        .bind(ten_minutes_ago)
        .bind(&job)
        .execute(s.db.db.pool())
        .await
        .unwrap();
    assert_eq!(status().await["dependencies"]["queue"], "degraded");
    s.stop().await;
}

mooring_core::on_both_backends!(health_on);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_database_that_is_gone() {
    let t = mooring_core::testkit::sqlite().await;
    t.db.close().await;
    let s = TestServer::start(t).await;
    for path in ["/health", "/api/health", "/api/v1/health"] {
        let (st, _) = get_json(&s, path).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    let (st, b) = get_json(&s, "/api/health").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b["error"]["code"], "database_unavailable");
    let (_, b) = get_json(&s, "/health").await;
    assert_eq!(b["ok"], false);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_answer_in_each_surface_shape() {
    let s = TestServer::start(mooring_core::testkit::sqlite().await).await;
    // mpanel + wp: both shapes in one body
    let (st, b) = get_json(&s, "/api/no/such/thing").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(b["code"], "not_found");
    assert_eq!(b["error"]["code"], "not_found");
    assert!(b["error"]["details"].is_object());
    // rustploy
    let (st, b) = get_json(&s, "/api/v1/no/such/thing").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(b["error"]["details"], json!([]));
    // tenant
    let (st, b) = get_json(&s, "/sites/nope/db/status").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(b["ok"], false);
    assert_eq!(b["code"], "not_found");

    for (path, shape) in [
        ("/api/health", "api"),
        ("/api/v1/health", "rustploy"),
        ("/health", "tenant"),
    ] {
        let r = s.client.delete(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(
            r.headers().get("allow").is_some(),
            "{path}: Allow header kept"
        );
        let b: Value = r.json().await.unwrap();
        let code = match shape {
            "api" => &b["error"]["code"],
            "rustploy" => &b["error"]["code"],
            _ => &b["code"],
        };
        assert_eq!(code, "method_not_allowed", "{path}: {b}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_are_served() {
    let s = TestServer::start(mooring_core::testkit::sqlite().await).await;
    for (path, title) in [
        ("/api/openapi.yaml", "Mooring mpanel API"),
        ("/api/v1/openapi.yaml", "Mooring rustploy API"),
        ("/openapi/wp.yaml", "Mooring wp API"),
        ("/openapi/tenant.yaml", "Mooring tenant API"),
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().contains("yaml"));
        assert!(r.text().await.unwrap().contains(title), "{path}");
    }
    let r = s
        .client
        .get(s.url("/openapi/nope.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_on_the_server_and_unknown_pages_are_404_html() {
    let s = TestServer::start(mooring_core::testkit::sqlite().await).await;
    let r = s.client.get(s.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/login\""),
        "{html}"
    );
    let r = s.client.get(s.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("Page not found"));
    s.stop().await;
}

/// A JSON route on each surface behind the real layers, to exercise body errors.
async fn probe_server() -> String {
    #[derive(serde::Deserialize)]
    struct Probe {
        name: String,
        count: u32,
    }
    async fn probe(ApiJson(p): ApiJson<Probe>) -> Result<Json<Value>, ApiError> {
        Ok(Json(json!({ "name": p.name, "count": p.count })))
    }
    let router: Router = surface_layers(
        Router::new()
            .route("/api/probe", post(probe))
            .route("/api/v1/probe", post(probe))
            .route("/sites/probe", post(probe)),
        1024,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn code_of(path: &str, b: &Value) -> String {
    let v = if path.starts_with("/sites") {
        &b["code"]
    } else {
        &b["error"]["code"]
    };
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_clear_errors_in_each_surface_shape() {
    let base = probe_server().await;
    let c = reqwest::Client::new();
    for path in ["/api/probe", "/api/v1/probe", "/sites/probe"] {
        let url = format!("{base}{path}");
        let send = |body: Vec<u8>, ct: Option<&'static str>| {
            let mut rb = c.post(&url).body(body);
            if let Some(ct) = ct {
                rb = rb.header(CONTENT_TYPE, ct);
            }
            rb.send()
        };
        let ok = send(
            br#"{"name":"a","count":1}"#.to_vec(),
            Some("application/json"),
        )
        .await
        .unwrap();
        assert_eq!(ok.status(), StatusCode::OK, "{path}");

        let cases: Vec<(Vec<u8>, Option<&'static str>, StatusCode, &str)> = vec![
            (
                b"{\"name\":".to_vec(),
                Some("application/json"),
                StatusCode::BAD_REQUEST,
                "malformed_json",
            ),
            (
                br#"{"name":"a","count":1}"#.to_vec(),
                Some("text/plain"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                br#"{"name":"a","count":1}"#.to_vec(),
                None,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                br#"{"name":"a","count":"x"}"#.to_vec(),
                Some("application/json"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                br#"{"name":"a"}"#.to_vec(),
                Some("application/json"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(4096)).into_bytes(),
                Some("application/json"),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (body, ct, status, code) in cases {
            let r = send(body, ct).await.unwrap();
            assert_eq!(r.status(), status, "{path} {code}");
            assert!(r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"));
            let b: Value = r.json().await.unwrap();
            assert_eq!(code_of(path, &b), code, "{path}: {b}");
        }
        // Field errors name the field, in the rustploy shape as an array.
        let r = send(
            br#"{"name":"a","count":"x"}"#.to_vec(),
            Some("application/json"),
        )
        .await
        .unwrap();
        let b: Value = r.json().await.unwrap();
        match path {
            "/api/v1/probe" => assert_eq!(b["error"]["details"][0]["field"], "count"),
            "/api/probe" => assert_eq!(b["error"]["details"]["fields"][0]["field"], "count"),
            _ => assert_eq!(b["fields"][0]["field"], "count"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exposed_for_prometheus() {
    let t = mooring_core::testkit::sqlite().await;
    mooring_core::jobs::enqueue_now(
        &t.db,
        mooring_core::jobs::NewJob::new(mooring_core::DEFAULT_TENANT_ID, "site.backup", json!({})),
    )
    .await
    .unwrap();
    let s = TestServer::start(t).await;
    for _ in 0..3 {
        s.client.get(s.url("/health")).send().await.unwrap();
    }
    s.client
        .get(s.url("/api/no-such-route"))
        .send()
        .await
        .unwrap();
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "mooring_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "mooring_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("mooring_http_request_duration_seconds_count{route=\"/health\"} 3"),
        "{text}"
    );
    assert!(
        text.contains(
            "mooring_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("mooring_jobs{type=\"site.backup\",status=\"queued\"} 1"),
        "{text}"
    );
    assert!(text.contains("mooring_job_queue_depth 1"), "{text}");
    // Every sample line is `name{labels} value` with a number.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_from_memory_when_the_database_is_gone() {
    let t = mooring_core::testkit::sqlite().await;
    mooring_core::jobs::enqueue_now(
        &t.db,
        mooring_core::jobs::NewJob::new(mooring_core::DEFAULT_TENANT_ID, "site.backup", json!({})),
    )
    .await
    .unwrap();
    let s = TestServer::start(t).await;
    s.client.get(s.url("/health")).send().await.unwrap();
    // The first scrape takes the queue's snapshot (no refresh task runs here).
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("mooring_job_queue_depth 1"));
    s.db.db.close().await;
    // Health sees the database gone; the scrape does not read it.
    let r = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..2 {
        let r = s.client.get(s.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert!(
            text.contains(
                "mooring_http_requests_total{route=\"/health\",method=\"GET\",status=\"503\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "mooring_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"
            ),
            "{text}"
        );
        // The gauges are the last snapshot's.
        assert!(text.contains("mooring_job_queue_depth 1"), "{text}");
        assert!(
            text.contains("mooring_jobs{type=\"site.backup\",status=\"queued\"} 1"),
            "{text}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_without_a_database_still_show_the_http_counters() {
    let t = mooring_core::testkit::sqlite().await;
    t.db.close().await;
    let s = TestServer::start(t).await;
    s.client.get(s.url("/health")).send().await.unwrap();
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(
            "mooring_http_requests_total{route=\"/health\",method=\"GET\",status=\"503\"} 1"
        ),
        "{text}"
    );
    // No snapshot of the queue could be taken: its gauges are left out.
    assert!(!text.contains("mooring_job_queue_depth"), "{text}");
    s.stop().await;
}
