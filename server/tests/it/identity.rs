//! Identity through the API surfaces: each way in, and deny by default.

use crate::common::TestServer;
use mooring_core::{testkit, users};
use mooring_server::http::{api_routes, auth::Access};
use reqwest::{header, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn server_with_admin(t: testkit::TestDb) -> TestServer {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    TestServer::start(t).await
}

async fn post(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    s.client.post(s.url(path)).json(&body).send().await.unwrap()
}

fn session_cookie(r: &reqwest::Response) -> String {
    let c = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("session_token="))
        .expect("a session_token cookie");
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
    c.split(';').next().unwrap().to_string()
}

async fn wp_cookie_flow(t: testkit::TestDb) {
    let s = server_with_admin(t).await;
    let r = post(
        &s,
        "/api/login",
        json!({ "email": "OPS@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = session_cookie(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(
        cookie,
        format!("session_token={}", body["session_token"].as_str().unwrap())
    );

    // The cookie signs in on every surface.
    let me = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.unwrap()["email"], EMAIL);

    // Logout revokes it server-side, not only in the browser.
    let r = s
        .client
        .post(s.url("/api/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "success": true }));
    let me = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // Wrong password and unknown account answer alike.
    for body in [
        json!({ "email": EMAIL, "password": "wrong password!" }),
        json!({ "email": "no@example.com", "password": PASSWORD }),
    ] {
        let r = post(&s, "/api/login", body).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["code"], "invalid_credentials");
        assert_eq!(b["error"]["code"], "invalid_credentials");
    }
    let failures = mooring_core::audit::by_action(&s.db.db, "auth.login_failed")
        .await
        .unwrap();
    assert_eq!(failures.len(), 2);
    assert_eq!(
        mooring_core::audit::by_action(&s.db.db, "auth.login")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        mooring_core::audit::by_action(&s.db.db, "auth.logout")
            .await
            .unwrap()
            .len(),
        1
    );
    s.stop().await;
}

mooring_core::on_both_backends!(wp_cookie_flow);

async fn mpanel_jwt_flow(t: testkit::TestDb) {
    let s = server_with_admin(t).await;
    let r = post(
        &s,
        "/api/auth/login",
        json!({ "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().get(header::SET_COOKIE).is_none(),
        "JWT sign-in sets no cookie"
    );
    let b: Value = r.json().await.unwrap();
    let token = b["token"].as_str().unwrap().to_string();
    let refresh1 = b["refreshToken"].as_str().unwrap().to_string();
    assert_eq!(b["user"]["email"], EMAIL);
    assert_eq!(b["user"]["roles"], json!(["admin"]));
    assert_eq!(b["user"]["tenantId"], mooring_core::DEFAULT_TENANT_ID);

    let me = s
        .client
        .get(s.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["permissions"], json!(["*"]));

    // A forged or garbage token is refused with a clear code.
    let mut forged = token.clone();
    forged.push('x');
    let r = s
        .client
        .get(s.url("/api/auth/me"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_token"
    );
    let r = s
        .client
        .get(s.url("/api/auth/me"))
        .header(header::AUTHORIZATION, "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Refresh rotates: the new pair works, the old refresh token is spent.
    let r = post(&s, "/api/auth/refresh", json!({ "refreshToken": refresh1 })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b: Value = r.json().await.unwrap();
    let refresh2 = b["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(refresh1, refresh2);
    let me = s
        .client
        .get(s.url("/api/auth/me"))
        .bearer_auth(b["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Reusing the spent one revokes the whole family: refresh2 dies too.
    let r = post(&s, "/api/auth/refresh", json!({ "refreshToken": refresh1 })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "refresh_token_reused"
    );
    let r = post(&s, "/api/auth/refresh", json!({ "refreshToken": refresh2 })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_refresh_token"
    );
    s.stop().await;
}

mooring_core::on_both_backends!(mpanel_jwt_flow);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustploy_login_me_logout() {
    let s = server_with_admin(testkit::sqlite().await).await;
    let r = post(
        &s,
        "/api/v1/auth/login",
        json!({ "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = session_cookie(&r);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["user"]["role"], "admin");
    assert!(b["session_token"].is_string());
    let r = s
        .client
        .post(s.url("/api/v1/auth/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .client
        .get(s.url("/api/v1/auth/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.json::<Value>().await.unwrap()["error"]["details"].is_array());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_with_retry_after() {
    let s = server_with_admin(testkit::sqlite().await).await;
    for _ in 0..mooring_core::identity::login::MAX_PER_ACCOUNT {
        let r = post(
            &s,
            "/api/auth/login",
            json!({ "email": EMAIL, "password": "not the password" }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = post(
        &s,
        "/api/auth/login",
        json!({ "email": EMAIL, "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&secs));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "too_many_attempts"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_bodies_are_validated() {
    let s = server_with_admin(testkit::sqlite().await).await;
    let r = post(&s, "/api/auth/login", json!({ "email": EMAIL })).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "password");
    let r = post(
        &s,
        "/api/v1/auth/login",
        json!({ "email": " ", "password": "x" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["details"][0]["field"],
        "email"
    );
    s.stop().await;
}

/// Deny by default: every route that is not explicitly public refuses a
/// caller with no credentials, and one with a forged credential. The public
/// list is short and spelled out here, so adding to it is a visible decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_non_public_route_refuses_anonymous_and_forged_callers() {
    const PUBLIC: &[(&str, &str)] = &[
        ("GET", "/api/health"),
        ("GET", "/api/openapi.yaml"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        // Authenticated by its Stripe-Signature, not by a login.
        ("POST", "/api/payments/stripe/webhook"),
        ("POST", "/api/login"),
        ("POST", "/api/logout"),
        ("GET", "/health"),
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/openapi.yaml"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/password-reset/request"),
        ("POST", "/api/v1/auth/password-reset/confirm"),
    ];
    let s = server_with_admin(testkit::sqlite().await).await;
    let routes = api_routes();
    let public: Vec<(String, String)> = routes
        .list()
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    let expected: Vec<(String, String)> = PUBLIC
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        public, expected,
        "the public routes changed: update PUBLIC deliberately"
    );
    let mut checked = 0;
    let param = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for r in routes.list().iter().filter(|r| r.access != Access::Public) {
        // Path parameters get a syntactically valid id that exists nowhere.
        let path = param
            .replace_all(&r.path, "00000000-0000-0000-0000-00000000dead")
            .to_string();
        for auth in [None, Some("Bearer not.a.jwt"), Some("Bearer mpat_forged")] {
            let mut req = s
                .client
                .request(r.method.clone(), s.url(&path))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}");
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{} {path} with {auth:?}",
                r.method
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "the walk covered the authenticated routes");

    // A read-only token is refused on every mutation.
    let admin = mooring_core::identity::user_by_email(&s.db.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let caller = mooring_core::identity::Principal::for_user(
        &admin,
        mooring_core::identity::Via::Session,
        mooring_core::identity::Scope::Admin,
    );
    let (_, read) = mooring_core::identity::access_tokens::create(
        &s.db.db,
        &caller,
        mooring_core::identity::access_tokens::NewToken {
            name: "reader".into(),
            kind: mooring_core::identity::access_tokens::Kind::Personal,
            scopes: vec![mooring_core::identity::Scope::Read],
            expires_at: None,
        },
        None,
    )
    .await
    .unwrap();
    let mut mutations = 0;
    for r in routes
        .list()
        .iter()
        .filter(|r| r.access != Access::Public && r.method != reqwest::Method::GET)
    {
        let path = param
            .replace_all(&r.path, "00000000-0000-0000-0000-00000000dead")
            .to_string();
        let resp = s
            .client
            .request(r.method.clone(), s.url(&path))
            .bearer_auth(&read)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{} {path} with a read token",
            r.method
        );
        mutations += 1;
    }
    assert!(mutations >= 2, "the walk covered the mutations");
    s.stop().await;
}

/// A customer of another tenant gets nothing of this tenant: every route with
/// an id answers 403 or 404 for this tenant's real ids, lists show none of its
/// data, and no mutation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_of_another_tenant_gets_nothing() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    // This tenant's objects, to aim at.
    let admin = mooring_core::identity::user_by_email(&db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let caller = mooring_core::identity::Principal::for_user(
        &admin,
        mooring_core::identity::Via::Session,
        mooring_core::identity::Scope::Admin,
    );
    let (token, _) = mooring_core::identity::access_tokens::create(
        &db,
        &caller,
        mooring_core::identity::access_tokens::NewToken {
            name: "ours".into(),
            kind: mooring_core::identity::access_tokens::Kind::Service,
            scopes: vec![mooring_core::identity::Scope::Admin],
            expires_at: None,
        },
        None,
    )
    .await
    .unwrap();
    let (key, _) = mooring_core::identity::api_keys::create(
        &db,
        mooring_core::DEFAULT_TENANT_ID,
        "ours",
        None,
        None,
    )
    .await
    .unwrap();
    // Another tenant with a customer login.
    let hash = mooring_core::password::hash(SecretString::from(PASSWORD))
        .await
        .unwrap();
    sqlx::query("INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES ('t2', 'Other', 'other', 'x', 'x')")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, status, created_at, updated_at) \
         VALUES ('cust', 't2', 'customer@other.test', 'C', $1, 'customer', 'active', 'x', 'x')",
    )
    .bind(hash)
    .execute(db.pool())
    .await
    .unwrap();
    let s = TestServer::start(t).await;
    let r = post(
        &s,
        "/api/auth/login",
        json!({ "email": "customer@other.test", "password": PASSWORD }),
    )
    .await;
    let jwt = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ours = [
        admin.id.clone(),
        admin.email.clone(),
        mooring_core::DEFAULT_TENANT_ID.to_string(),
        token.id.clone(),
        key.id.clone(),
    ];
    let param = regex::Regex::new(r"\{[^}]+\}").unwrap();
    let mut checked = 0;
    for r in api_routes()
        .list()
        .iter()
        .filter(|r| r.access != Access::Public)
    {
        let has_id = param.is_match(&r.path);
        // Try each of this tenant's ids where the route takes one.
        let targets: Vec<String> = if has_id {
            ours.iter()
                .map(|id| param.replace_all(&r.path, id.as_str()).to_string())
                .collect()
        } else {
            vec![r.path.clone()]
        };
        for path in targets {
            let resp = s
                .client
                .request(r.method.clone(), s.url(&path))
                .bearer_auth(&jwt)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            if has_id || r.method != reqwest::Method::GET {
                assert!(
                    !status.is_success(),
                    "{} {path} answered {status} to another tenant's customer: {body}",
                    r.method
                );
            } else if status.is_success() {
                for secret in &ours {
                    assert!(
                        !body.contains(secret.as_str()),
                        "{} {path} leaked {secret}: {body}",
                        r.method
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 10);
    s.stop().await;
}
