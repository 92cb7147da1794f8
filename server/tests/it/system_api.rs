//! `GET /api/metrics` (wp), `GET /api/system/health` and `GET /api/system/events`
//! (mpanel): counters read from the database at the moment of the request.

use crate::common::TestServer;
use mooring_core::{
    clock,
    jobs::{self, NewJob, Registry, Worker},
    testkit, users, DEFAULT_TENANT_ID,
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn get(s: &TestServer, path: &str, jwt: &str) -> (StatusCode, Value) {
    let r = s
        .client
        .get(s.url(path))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn add_server(db: &mooring_core::Db, id: &str, name: &str, status: &str) {
    sqlx::query(
        "INSERT INTO servers (id, tenant_id, name, host, ip, port, ssh_user, roles, status, last_heartbeat_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, '127.0.0.2', 22, 'mooring', 'web', $5, $6, $6, $6)",
    )
    .bind(id)
    .bind(DEFAULT_TENANT_ID)
    .bind(name)
    .bind(format!("{name}.example"))
    .bind(status)
    .bind(clock::now())
    .execute(db.pool())
    .await
    .unwrap();
}

async fn system_api(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;

    // A fresh install: nothing yet.
    let (st, b) = get(&s, "/api/metrics", &jwt).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        b,
        json!({ "jobs_running": 0, "jobs_queued": 0, "nodes_active": 0, "sites_total": 0 })
    );

    // Two queued jobs, one running, one failed; three servers; two sites.
    for _ in 0..3 {
        jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "site.deploy", json!({})),
        )
        .await
        .unwrap();
    }
    jobs::claim(&db, "w", time::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    let failed = jobs::enqueue_now(&db, NewJob::new(DEFAULT_TENANT_ID, "no.such", json!({})))
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET run_after = '2000-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(&failed)
        .execute(db.pool())
        .await
        .unwrap();
    Worker::new(db.clone(), Registry::new())
        .run_one()
        .await
        .unwrap();
    assert_eq!(jobs::load(&db, &failed).await.unwrap().status, "failed");
    add_server(
        &db,
        "00000000-0000-0000-0000-0000000000a1",
        "web-1",
        "online",
    )
    .await;
    add_server(
        &db,
        "00000000-0000-0000-0000-0000000000a2",
        "web-2",
        "degraded",
    )
    .await;
    add_server(
        &db,
        "00000000-0000-0000-0000-0000000000a3",
        "db-1",
        "offline",
    )
    .await;
    for (at, cpu, reachable) in [
        ("2026-01-01T00:00:00.000Z", 10.0, 1),
        ("2026-01-01T00:01:00.000Z", 55.5, 1),
        ("2026-01-01T00:02:00.000Z", 0.0, 0),
    ] {
        sqlx::query(
            "INSERT INTO server_probes (server_id, at, reachable, cpu_percent, load1, memory_used_mb, memory_total_mb, \
             disk_used_gb, disk_total_gb, uptime_seconds) VALUES ('00000000-0000-0000-0000-0000000000a1', $1, $2, $3, 0.5, 512, 2048, 10.5, 40.0, 3600)",
        )
        .bind(at)
        .bind(reachable)
        .bind(cpu)
        .execute(db.pool())
        .await
        .unwrap();
    }
    for slug in ["blog", "shop"] {
        sqlx::query(
            "INSERT INTO sites (id, tenant_id, name, slug, status, created_at, updated_at) VALUES ($1, $2, $3, $3, 'active', 'x', 'x')",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(DEFAULT_TENANT_ID)
        .bind(slug)
        .execute(db.pool())
        .await
        .unwrap();
    }
    let (_, b) = get(&s, "/api/metrics", &jwt).await;
    assert_eq!(
        b,
        json!({ "jobs_running": 1, "jobs_queued": 2, "nodes_active": 2, "sites_total": 2 })
    );

    let (st, h) = get(&s, "/api/system/health", &jwt).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["generatedAt"].is_string());
    assert_eq!(
        h["servers"],
        json!({ "total": 3, "online": 1, "degraded": 1, "offline": 1 })
    );
    assert_eq!(
        h["jobs"],
        json!({ "queued": 2, "running": 1, "failedLast24h": 1 })
    );
    let hosts = h["hosts"].as_array().unwrap();
    assert_eq!(
        hosts.iter().map(|x| x["name"].clone()).collect::<Vec<_>>(),
        vec![json!("db-1"), json!("web-1"), json!("web-2")]
    );
    // web-1's last reachable probe; the servers never probed report nulls.
    assert_eq!(hosts[1]["cpuPercent"], json!(55.5));
    assert_eq!(hosts[1]["memoryTotalMb"], json!(2048));
    assert_eq!(hosts[1]["uptimeSeconds"], json!(3600));
    assert_eq!(hosts[1]["status"], "online");
    assert_eq!(hosts[0]["cpuPercent"], Value::Null);

    let (st, e) = get(&s, "/api/system/events", &jwt).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(e["total"], 1);
    let ev = &e["items"][0];
    assert_eq!(
        (
            ev["source"].clone(),
            ev["level"].clone(),
            ev["type"].clone(),
            ev["jobId"].clone()
        ),
        (
            json!("queue"),
            json!("error"),
            json!("job.failed"),
            json!(failed)
        )
    );
    assert!(ev["message"].as_str().unwrap().contains("no handler"));
    let (_, e) = get(&s, "/api/system/events?level=warning", &jwt).await;
    assert_eq!(e["total"], 0);
    let (st, e) = get(&s, "/api/system/events?source=kitchen", &jwt).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["details"]["fields"][0]["field"], "source");
    let (st, _) = get(&s, "/api/system/events?since=yesterday", &jwt).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, e) = get(&s, "/api/system/events?since=2999-01-01T00:00:00Z", &jwt).await;
    assert_eq!(e["total"], 0);

    // Another tenant's operator sees none of it.
    sqlx::query("UPDATE users SET is_platform_admin = 0")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES ('t2', 'Other', 'other', 'x', 'x')")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE users SET tenant_id = 't2'")
        .execute(db.pool())
        .await
        .unwrap();
    // Written behind Mooring's back: drop what it keeps in memory.
    db.auth().clear();
    let jwt2 = s.jwt(EMAIL, PASSWORD).await;
    let (_, b) = get(&s, "/api/metrics", &jwt2).await;
    assert_eq!(
        b,
        json!({ "jobs_running": 0, "jobs_queued": 0, "nodes_active": 0, "sites_total": 0 })
    );
    let (_, h) = get(&s, "/api/system/health", &jwt2).await;
    assert_eq!(h["servers"]["total"], 0);
    let (_, e) = get(&s, "/api/system/events", &jwt2).await;
    assert_eq!(e["total"], 0);
    s.stop().await;
}

mooring_core::on_both_backends!(system_api);
