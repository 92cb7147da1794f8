//! `GET /api/audit` and `mooring audit verify`.

use crate::common::TestServer;
use mooring_core::{testkit, users};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn audit_api(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    let r = s
        .client
        .post(s.url("/api/apikeys"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap();
    let key_id = r.json::<Value>().await.unwrap()["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |q: &str| {
        let url = s.url(&format!("/api/audit{q}"));
        let jwt = jwt.clone();
        let c = s.client.clone();
        async move {
            let r = c.get(url).bearer_auth(jwt).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, b) = get("").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 2, "{b}");
    // Newest first, with the chain's hashes.
    assert_eq!(b["items"][0]["action"], "api_key.created");
    assert_eq!(b["items"][0]["prevHash"], b["items"][1]["hash"]);
    assert!(b["items"][1]["ip"].as_str().unwrap().starts_with("127."));
    let (_, b) = get("?type=auth.").await;
    assert_eq!(
        (b["total"].clone(), b["items"][0]["action"].clone()),
        (json!(1), json!("auth.login"))
    );
    let (_, b) = get(&format!("?resourceType=api_key&resourceId={key_id}")).await;
    assert_eq!(b["total"], 1);
    let (_, b) = get("?since=2999-01-01T00:00:00Z").await;
    assert_eq!(b["total"], 0);
    let (st, b) = get("?since=yesterday").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "since");
    // Staff do not read the audit log.
    let r = s
        .client
        .post(s.url("/api/users"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "S", "email": "s@example.com", "password": "staff password 1", "roles": ["staff"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let staff = s.jwt("s@example.com", "staff password 1").await;
    let r = s
        .client
        .get(s.url("/api/audit"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.stop().await;
}

mooring_core::on_both_backends!(audit_api);
