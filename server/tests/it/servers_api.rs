//! mpanel §12 servers and the node extensions on a real server, against a
//! real `sshd` on 127.0.0.4: Mooring's key, add (validated), test the
//! connection (host key pinned), probes, the scheduled heartbeat marking a
//! node offline and back, change, remove; customers and staff kept to
//! what they may do.

use crate::common::{call, TestServer};
use mooring_core::{
    jobs::{NewJob, Registry, Worker},
    nodes::heartbeat::{Heartbeat, KIND},
    testkit::{self, sshd::Sshd},
    users, DEFAULT_TENANT_ID,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn servers_flow(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    use Method as M;

    let (st, key) = call(&s, M::GET, "/api/servers/ssh-key", &jwt, None).await;
    assert_eq!(st, StatusCode::OK, "{key}");
    let public = key["publicKey"].as_str().unwrap().to_string();
    assert!(public.starts_with("ssh-ed25519 "));
    assert!(key["install"].as_str().unwrap().contains(&public));
    let mut node = Sshd::start("127.0.0.4", &public).await;

    let (st, b) = call(
        &s,
        M::POST,
        "/api/servers",
        &jwt,
        Some(json!({ "name": "web-1", "host": "127.0.0.4", "roles": [] })),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "roles", "{b}");
    let (st, _) = call(
        &s,
        M::POST,
        "/api/servers",
        &jwt,
        Some(json!({ "name": "web-1", "host": "127.0.0.4", "roles": ["web"], "password": "x" })),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let (st, srv) = call(
        &s,
        M::POST,
        "/api/servers",
        &jwt,
        Some(json!({ "name": "web-1", "host": "127.0.0.4", "port": node.port, "sshUser": node.user, "roles": ["web", "db"] })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{srv}");
    assert_eq!(
        (srv["role"].clone(), srv["status"].clone()),
        (json!("web"), json!("offline"))
    );
    let id = srv["id"].as_str().unwrap().to_string();
    let (st, _) = call(
        &s,
        M::POST,
        "/api/servers",
        &jwt,
        Some(json!({ "name": "web-1", "host": "127.0.0.9", "roles": ["web"] })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "names are unique");

    let (st, t) = call(&s, M::POST, &format!("/api/servers/{id}/test"), &jwt, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["hostKeyFingerprint"], json!(node.fingerprint()));
    assert_eq!(t["server"]["status"], "online");
    let (_, probes) = call(&s, M::GET, &format!("/api/servers/{id}/probes"), &jwt, None).await;
    assert_eq!(probes["items"].as_array().unwrap().len(), 1);
    assert!(probes["items"][0]["memoryTotalMb"].as_i64().unwrap() > 0);

    // The heartbeat job: the node goes away (offline, reported), comes back.
    let worker = Worker::new(
        db.clone(),
        Registry::new().register(
            KIND,
            Heartbeat {
                nodes: s.nodes().clone(),
            },
        ),
    );
    let beat = || async {
        let mut tx = db.begin_write().await.unwrap();
        mooring_core::jobs::enqueue(
            &db,
            &mut tx,
            NewJob::new(DEFAULT_TENANT_ID, KIND, json!({})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(worker.run_one().await.unwrap());
    };
    node.down();
    beat().await;
    let (_, srv) = call(&s, M::GET, &format!("/api/servers/{id}"), &jwt, None).await;
    assert_eq!(srv["status"], "offline");
    assert!(
        srv["lastError"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{srv}"
    );
    let (_, ev) = call(&s, M::GET, "/api/system/events?source=node", &jwt, None).await;
    let kinds: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(kinds.contains(&"server.offline"), "{ev}");
    node.up().await;
    // Back at the next heartbeat (a freshly started sshd may refuse the very
    // first session while it settles, as a real node coming up may: the
    // heartbeat after that finds it).
    let mut srv = Value::Null;
    for _ in 0..5 {
        beat().await;
        srv = call(&s, M::GET, &format!("/api/servers/{id}"), &jwt, None)
            .await
            .1;
        if srv["status"] == "online" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(srv["status"], "online", "{srv}\n{}", node.log());
    assert_eq!(srv["lastError"], Value::Null);

    // Change and remove.
    let (st, srv) = call(
        &s,
        M::PUT,
        &format!("/api/servers/{id}"),
        &jwt,
        Some(json!({ "name": "web-01" })),
    )
    .await;
    assert_eq!((st, srv["name"].clone()), (StatusCode::OK, json!("web-01")));
    assert_eq!(
        srv["hostKeyFingerprint"],
        json!(node.fingerprint()),
        "same host: key kept"
    );
    let (_, list) = call(&s, M::GET, "/api/servers", &jwt, None).await;
    assert_eq!(list["total"], 1);
    let (st, _) = call(&s, M::DELETE, &format!("/api/servers/{id}"), &jwt, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = call(&s, M::GET, &format!("/api/servers/{id}"), &jwt, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, audit) = call(&s, M::GET, "/api/audit?type=server.", &jwt, None).await;
    assert!(audit["total"].as_i64().unwrap() >= 4, "{audit}");
    s.stop().await;
}

mooring_core::on_both_backends!(servers_flow);
