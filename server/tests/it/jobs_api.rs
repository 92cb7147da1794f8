//! `/api/jobs`: list, detail, retry and cancel, tenant-scoped.

use crate::common::TestServer;
use async_trait::async_trait;
use mooring_core::{
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
    testkit, users, DEFAULT_TENANT_ID,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

struct Fails;

#[async_trait]
impl JobHandler for Fails {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        ctx.progress(40, "copying files").await?;
        Err(JobError::permanent("disk_full", "the node's disk is full"))
    }
}

async fn call(s: &TestServer, m: Method, path: &str, jwt: &str) -> (StatusCode, Value) {
    let r = s
        .client
        .request(m, s.url(path))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn jobs_api(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let failing = jobs::enqueue_now(
        &db,
        NewJob::new(DEFAULT_TENANT_ID, "site.backup", json!({})).target("environment", "env-1"),
    )
    .await
    .unwrap();
    Worker::new(db.clone(), Registry::new().register("site.backup", Fails))
        .run_one()
        .await
        .unwrap();
    let queued = jobs::enqueue_now(
        &db,
        NewJob::new(DEFAULT_TENANT_ID, "site.deploy", json!({})).target("environment", "env-2"),
    )
    .await
    .unwrap();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;

    let (st, b) = call(&s, Method::GET, "/api/jobs", &jwt).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 2);
    let (st, b) = call(&s, Method::GET, &format!("/api/jobs/{failing}"), &jwt).await;
    assert_eq!(st, StatusCode::OK);
    // Both contracts' fields in one object.
    assert_eq!(b["status"], "failed");
    assert_eq!(b["error_code"], "disk_full");
    assert_eq!(b["error_message"], "the node's disk is full");
    assert!(b["started_at"].is_string() && b["finished_at"].is_string());
    assert_eq!(b["tenantId"], DEFAULT_TENANT_ID);
    assert_eq!(b["type"], "site.backup");
    assert_eq!(b["targetId"], "env-1");
    assert!(b["createdAt"].is_string() && b["updatedAt"].is_string());
    assert_eq!(
        b["progress"],
        json!({ "percent": 40, "label": "copying files" })
    );

    // Filters.
    let (_, b) = call(&s, Method::GET, "/api/jobs?status=queued", &jwt).await;
    assert_eq!(
        (b["total"].clone(), b["items"][0]["id"].clone()),
        (json!(1), json!(queued))
    );
    let (_, b) = call(
        &s,
        Method::GET,
        "/api/jobs?type=site.backup&targetId=env-1",
        &jwt,
    )
    .await;
    assert_eq!(b["total"], 1);
    let (_, b) = call(&s, Method::GET, "/api/jobs?targetId=nope", &jwt).await;
    assert_eq!(b["total"], 0);
    let (st, b) = call(&s, Method::GET, "/api/jobs?status=exploded", &jwt).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "status");
    let (_, b) = call(&s, Method::GET, "/api/jobs?page=2&pageSize=1", &jwt).await;
    assert_eq!(
        (b["items"].as_array().unwrap().len(), b["total"].clone()),
        (1, json!(2))
    );

    // Retry: only failed or cancelled jobs.
    let (st, b) = call(
        &s,
        Method::POST,
        &format!("/api/jobs/{failing}/retry"),
        &jwt,
    )
    .await;
    assert_eq!(
        (st, b["status"].clone(), b["error_code"].clone()),
        (StatusCode::ACCEPTED, json!("queued"), Value::Null)
    );
    let (st, b) = call(
        &s,
        Method::POST,
        &format!("/api/jobs/{failing}/retry"),
        &jwt,
    )
    .await;
    assert_eq!(
        (st, b["code"].clone()),
        (StatusCode::CONFLICT, json!("job_not_retryable"))
    );
    // Cancel a queued job; cancelling again is a conflict.
    let (st, b) = call(
        &s,
        Method::POST,
        &format!("/api/jobs/{queued}/cancel"),
        &jwt,
    )
    .await;
    assert_eq!(
        (st, b["status"].clone()),
        (StatusCode::ACCEPTED, json!("cancelled"))
    );
    let (st, _) = call(
        &s,
        Method::POST,
        &format!("/api/jobs/{queued}/cancel"),
        &jwt,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = call(
        &s,
        Method::GET,
        "/api/jobs/00000000-0000-0000-0000-00000000dead",
        &jwt,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Another tenant's job is not there for this tenant.
    sqlx::query("INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES ('t2', 'Other', 'other', 'x', 'x')")
        .execute(db.pool())
        .await
        .unwrap();
    let theirs = jobs::enqueue_now(&db, NewJob::new("t2", "site.deploy", json!({})))
        .await
        .unwrap();
    let (st, _) = call(&s, Method::GET, &format!("/api/jobs/{theirs}"), &jwt).await;
    // The bootstrap admin is a platform admin: it sees every tenant's jobs.
    assert_eq!(st, StatusCode::OK);
    sqlx::query("UPDATE users SET is_platform_admin = 0")
        .execute(db.pool())
        .await
        .unwrap();
    // Written behind Mooring's back: drop what it keeps in memory.
    db.auth().clear();
    let (st, _) = call(&s, Method::GET, &format!("/api/jobs/{theirs}"), &jwt).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, b) = call(&s, Method::GET, "/api/jobs", &jwt).await;
    assert_eq!(b["total"], 2);
    s.stop().await;
}

mooring_core::on_both_backends!(jobs_api);

/// The live stream of a job: its changes, each log line, and the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_can_be_followed_live_over_server_sent_events() {
    use mooring_core::jobs::system_check::{SystemCheck, KIND};
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let id = jobs::enqueue_now(&db, NewJob::new(DEFAULT_TENANT_ID, KIND, json!({})))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    let resp = s
        .client
        .get(s.url(&format!("/api/jobs/{id}/events")))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    // The job runs while the stream is open.
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::new(
        db.clone(),
        Registry::new().register(
            KIND,
            SystemCheck {
                data_dir: dir.path().to_path_buf(),
            },
        ),
    );
    tokio::spawn(async move { worker.run_one().await.unwrap() });
    let body = tokio::time::timeout(std::time::Duration::from_secs(20), resp.text())
        .await
        .expect("the stream ends")
        .unwrap();
    assert!(body.contains("event: job"), "{body}");
    assert!(body.contains("event: log"), "{body}");
    assert!(body.contains("is writable"), "{body}");
    let end = body.split("event: end").nth(1).expect("an end event");
    assert!(end.contains("\"status\":\"succeeded\""), "{end}");
    // Resuming after the last seen line sends only what came after it.
    let r = s
        .client
        .get(s.url(&format!("/api/jobs/{id}/events")))
        .bearer_auth(&jwt)
        .header("last-event-id", "1000")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!r.contains("event: log") && r.contains("event: end"), "{r}");
    s.stop().await;
}
