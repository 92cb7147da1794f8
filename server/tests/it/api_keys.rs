//! Tenant API keys: managed by tenant admins, sent as `X-API-Key`.

use crate::common::TestServer;
use mooring_core::{testkit, users};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn api_key_flow(t: testkit::TestDb) {
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
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: Value = r.json().await.unwrap();
    let secret = b["secret"].as_str().unwrap().to_string();
    let id = b["apiKey"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["apiKey"]["tenantId"], mooring_core::DEFAULT_TENANT_ID);

    // The key authenticates (here on a read route every credential may use).
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = s
        .client
        .get(s.url("/api/apikeys"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert!(list["items"][0]["lastUsedAt"].is_string());
    assert!(!list.to_string().contains(&secret));

    // A wrong key is refused in the surface's shape; so is an empty one.
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", "mk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", "")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Validation, then revocation takes effect at once.
    let r = s
        .client
        .post(s.url("/api/apikeys"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["details"]["fields"][0]["field"],
        "name"
    );
    let r = s
        .client
        .delete(s.url(&format!("/api/apikeys/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .client
        .get(s.url("/api/v1/tokens"))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .client
        .delete(s.url(&format!("/api/apikeys/{id}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        mooring_core::audit::by_action(&s.db.db, "api_key.created")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        mooring_core::audit::by_action(&s.db.db, "api_key.revoked")
            .await
            .unwrap()
            .len(),
        1
    );
    s.stop().await;
}

mooring_core::on_both_backends!(api_key_flow);
