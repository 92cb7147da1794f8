//! `/api/v1/tokens`: personal access and service tokens, scopes, expiry,
//! revocation, tenant isolation and the bootstrap rule.

use crate::common::TestServer;
use mooring_core::{audit, testkit, users};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn create(s: &TestServer, bearer: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = s.client.post(s.url("/api/v1/tokens")).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

async fn get(s: &TestServer, path: &str, bearer: &str) -> reqwest::Response {
    s.client
        .get(s.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

async fn token_lifecycle(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let admin = s.jwt(EMAIL, PASSWORD).await;

    let r = create(
        &s,
        Some(&admin),
        json!({ "name": "ci reader", "kind": "personal", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: Value = r.json().await.unwrap();
    let read = b["secret"].as_str().unwrap().to_string();
    assert!(read.starts_with("mpat_"));
    assert_eq!(b["token"]["scopes"], json!(["read"]));
    assert_eq!(b["token"]["last_used_at"], Value::Null);
    let read_id = b["token"]["id"].as_str().unwrap().to_string();

    // The secret is never shown again, and not stored.
    let list: Value = get(&s, "/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&read));
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM access_tokens")
        .fetch_all(s.db.db.pool())
        .await
        .unwrap();
    assert!(!stored.contains(&read));

    // A read token reads, records its use, and may not change anything.
    let me = get(&s, "/api/v1/auth/me", &read).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["email"], EMAIL);
    let list: Value = get(&s, "/api/v1/tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"][0]["last_used_at"].is_string());
    let r = create(
        &s,
        Some(&read),
        json!({ "name": "x", "kind": "personal", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "insufficient_scope"
    );
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/tokens/{read_id}")))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // An admin token can make tokens, a deploy token cannot.
    let b: Value = create(
        &s,
        Some(&admin),
        json!({ "name": "deployer", "kind": "personal", "scopes": ["deploy", "read"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(b["token"]["scopes"], json!(["read", "deploy"]));
    let deploy = b["secret"].as_str().unwrap().to_string();
    let r = create(
        &s,
        Some(&deploy),
        json!({ "name": "x", "kind": "personal", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Validation names the field.
    for (body, field) in [
        (
            json!({ "name": "x", "kind": "robot", "scopes": ["read"] }),
            "kind",
        ),
        (
            json!({ "name": "x", "kind": "personal", "scopes": ["root"] }),
            "scopes",
        ),
        (
            json!({ "name": "x", "kind": "personal", "scopes": ["read"], "expires_at": "tomorrow" }),
            "expires_at",
        ),
    ] {
        let r = create(&s, Some(&admin), body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["details"][0]["field"],
            field
        );
    }
    let r = create(
        &s,
        Some(&admin),
        json!({ "name": " ", "kind": "personal", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = create(
        &s,
        Some(&admin),
        json!({ "name": "x", "kind": "personal", "scopes": [] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = create(&s, Some(&admin), json!({ "name": "x", "kind": "personal", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z" })).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Expiry: a token past its time is refused.
    let b: Value = create(&s, Some(&admin), json!({ "name": "short", "kind": "personal", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00Z" }))
        .await
        .json()
        .await
        .unwrap();
    let short = b["secret"].as_str().unwrap().to_string();
    assert_eq!(
        get(&s, "/api/v1/auth/me", &short).await.status(),
        StatusCode::OK
    );
    sqlx::query("UPDATE access_tokens SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(b["token"]["id"].as_str().unwrap())
        .execute(s.db.db.pool())
        .await
        .unwrap();
    // Written behind Mooring's back: drop what it keeps in memory.
    s.db.db.auth().clear();
    assert_eq!(
        get(&s, "/api/v1/auth/me", &short).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Revocation is immediate; revoking again, or an unknown id, is "not found".
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/tokens/{read_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get(&s, "/api/v1/auth/me", &read).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_token"
    );
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/tokens/{read_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        audit::by_action(&s.db.db, "token.created")
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        audit::by_action(&s.db.db, "token.revoked")
            .await
            .unwrap()
            .len(),
        1
    );
    s.stop().await;
}

mooring_core::on_both_backends!(token_lifecycle);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_another_tenant_are_invisible() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    // A second tenant with its own admin.
    let hash = mooring_core::password::hash(SecretString::from(PASSWORD))
        .await
        .unwrap();
    sqlx::query("INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES ('t2', 'Other', 'other', 'x', 'x')")
        .execute(t.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, status, created_at, updated_at) \
         VALUES ('u2', 't2', 'other@example.com', 'Other', $1, 'admin', 'active', 'x', 'x')",
    )
    .bind(hash)
    .execute(t.db.pool())
    .await
    .unwrap();
    let s = TestServer::start(t).await;
    let mine = s.jwt(EMAIL, PASSWORD).await;
    let theirs = s.jwt("other@example.com", PASSWORD).await;
    let b: Value = create(
        &s,
        Some(&theirs),
        json!({ "name": "svc", "kind": "service", "scopes": ["admin"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let their_id = b["token"]["id"].as_str().unwrap().to_string();
    let list: Value = get(&s, "/api/v1/tokens", &mine).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/tokens/{their_id}")))
        .bearer_auth(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another tenant's token is not found, not forbidden"
    );
    let list: Value = get(&s, "/api/v1/tokens", &theirs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_mode_is_open_until_the_first_token_or_account() {
    let s = TestServer::start(testkit::sqlite().await).await;
    // Nobody exists: privileged rustploy routes are open.
    let r = s.client.get(s.url("/api/v1/tokens")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Only the rustploy surface has this rule.
    let r = s.client.get(s.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A personal token needs a person.
    let r = create(
        &s,
        None,
        json!({ "name": "me", "kind": "personal", "scopes": ["read"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = create(
        &s,
        None,
        json!({ "name": "bootstrap", "kind": "service", "scopes": ["admin"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("msvc_"));
    // Closed now: anonymous calls are refused, the token works.
    let r = s.client.get(s.url("/api/v1/tokens")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get(&s, "/api/v1/tokens", &secret).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.stop().await;
}
