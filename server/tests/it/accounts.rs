//! mpanel tenants and operator users, with their authorization rules.

use crate::common::TestServer;
use mooring_core::{testkit, users};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s.client.request(method, s.url(path)).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

async fn accounts_flow(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let s = TestServer::start(t).await;
    let admin = s.jwt(EMAIL, PASSWORD).await;

    // Tenants: platform admins only, paged.
    let (st, b) = call(&s, Method::GET, "/api/tenants", &admin, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 1);
    assert_eq!(b["items"][0]["name"], "Default");
    let (st, b) = call(
        &s,
        Method::POST,
        "/api/tenants",
        &admin,
        Some(json!({ "name": "Acme Hosting" })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(b["slug"], "acme-hosting");
    assert_eq!(b["status"], "active");
    let acme = b["id"].as_str().unwrap().to_string();
    let (st, b) = call(
        &s,
        Method::GET,
        &format!("/api/tenants/{acme}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (st, b["name"].clone()),
        (StatusCode::OK, json!("Acme Hosting"))
    );
    let (st, b) = call(
        &s,
        Method::GET,
        "/api/tenants?page=1&pageSize=1",
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (b["items"].as_array().unwrap().len(), b["total"].clone()),
        (1, json!(2))
    );
    let (st, b) = call(&s, Method::GET, "/api/tenants?pageSize=0", &admin, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "pageSize");
    let (st, _) = call(&s, Method::GET, "/api/tenants?page=abc", &admin, None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = call(
        &s,
        Method::GET,
        "/api/tenants/00000000-0000-0000-0000-00000000dead",
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Users: the admin creates a staff member.
    let (st, b) = call(&s, Method::POST, "/api/users", &admin, Some(json!({
        "name": "Sam Staff", "email": "Sam@Example.com", "password": "staff password 1", "roles": ["staff"]
    }))).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["email"], "sam@example.com");
    assert_eq!(b["roles"], json!(["staff"]));
    assert_eq!(b["tenantId"], mooring_core::DEFAULT_TENANT_ID);
    assert!(b.get("password").is_none() && b.get("passwordHash").is_none());
    let sam = b["id"].as_str().unwrap().to_string();
    let (st, b) = call(&s, Method::GET, "/api/users", &admin, None).await;
    assert_eq!((st, b["total"].clone()), (StatusCode::OK, json!(2)));

    // Field errors and conflicts.
    for (body, field) in [
        (
            json!({ "name": "", "email": "a@example.com", "password": "long enough pw", "roles": ["staff"] }),
            "name",
        ),
        (
            json!({ "name": "A", "email": "nope", "password": "long enough pw", "roles": ["staff"] }),
            "email",
        ),
        (
            json!({ "name": "A", "email": "a@example.com", "password": "short", "roles": ["staff"] }),
            "password",
        ),
        (
            json!({ "name": "A", "email": "a@example.com", "password": "QWERTY123456", "roles": ["staff"] }),
            "password",
        ),
        (
            json!({ "name": "A", "email": "a@example.com", "password": "long enough pw", "roles": ["root"] }),
            "roles",
        ),
        (
            json!({ "name": "A", "email": "a@example.com", "password": "long enough pw", "roles": ["customer"] }),
            "roles",
        ),
        (
            json!({ "name": "A", "email": "a@example.com", "password": "long enough pw", "roles": ["staff"], "status": "gone" }),
            "status",
        ),
    ] {
        let (st, b) = call(&s, Method::POST, "/api/users", &admin, Some(body)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {b}");
        assert_eq!(b["error"]["details"]["fields"][0]["field"], field, "{b}");
    }
    let (st, b) = call(&s, Method::POST, "/api/users", &admin, Some(json!({
        "name": "Dup", "email": "sam@example.com", "password": "another password", "roles": ["staff"]
    }))).await;
    assert_eq!(
        (st, b["code"].clone()),
        (StatusCode::CONFLICT, json!("email_taken"))
    );

    // Staff can look but not manage, and never manage tenants.
    let staff = s.jwt("sam@example.com", "staff password 1").await;
    let (st, _) = call(&s, Method::GET, "/api/users", &staff, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = call(
        &s,
        Method::POST,
        "/api/users",
        &staff,
        Some(json!({
            "name": "X", "email": "x@example.com", "password": "long enough pw", "roles": ["admin"]
        })),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&s, Method::GET, "/api/tenants", &staff, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The last admin can be neither demoted, disabled nor deleted; nobody deletes themselves.
    let me = users::password_hash_of(&s.db.db, EMAIL).await.unwrap();
    assert!(me.is_some());
    let admin_id = mooring_core::identity::user_by_email(&s.db.db, EMAIL)
        .await
        .unwrap()
        .unwrap()
        .id;
    let (st, b) = call(
        &s,
        Method::PUT,
        &format!("/api/users/{admin_id}"),
        &admin,
        Some(json!({ "roles": ["staff"] })),
    )
    .await;
    assert_eq!(
        (st, b["code"].clone()),
        (StatusCode::CONFLICT, json!("last_admin"))
    );
    let (st, _) = call(
        &s,
        Method::PUT,
        &format!("/api/users/{admin_id}"),
        &admin,
        Some(json!({ "status": "disabled" })),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = call(
        &s,
        Method::DELETE,
        &format!("/api/users/{admin_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _) = call(
        &s,
        Method::PUT,
        &format!("/api/users/{sam}"),
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Updating: rename; a new password ends the staff member's refresh tokens.
    let r = s
        .client
        .post(s.url("/api/auth/login"))
        .json(&json!({ "email": "sam@example.com", "password": "staff password 1" }))
        .send()
        .await
        .unwrap();
    let sam_refresh = r.json::<Value>().await.unwrap()["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = call(
        &s,
        Method::PUT,
        &format!("/api/users/{sam}"),
        &admin,
        Some(json!({ "name": "Samantha", "password": "a new staff password" })),
    )
    .await;
    assert_eq!((st, b["name"].clone()), (StatusCode::OK, json!("Samantha")));
    let r = s
        .client
        .post(s.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": sam_refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Disabling locks the account out at once, even with a live access token.
    let staff = s.jwt("sam@example.com", "a new staff password").await;
    let (st, _) = call(
        &s,
        Method::PUT,
        &format!("/api/users/{sam}"),
        &admin,
        Some(json!({ "status": "disabled" })),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, b) = call(&s, Method::GET, "/api/auth/me", &staff, None).await;
    assert_eq!(
        (st, b["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("account_unavailable"))
    );

    // Another tenant's admin sees none of this tenant's accounts.
    let hash = mooring_core::password::hash(SecretString::from(PASSWORD))
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, tenant_id, email, name, password_hash, role, status, created_at, updated_at) VALUES ('acme-admin', $1, 'boss@acme.test', 'Boss', $2, 'admin', 'active', 'x', 'x')")
        .bind(&acme)
        .bind(hash)
        .execute(s.db.db.pool())
        .await
        .unwrap();
    let boss = s.jwt("boss@acme.test", PASSWORD).await;
    let (st, b) = call(&s, Method::GET, "/api/users", &boss, None).await;
    assert_eq!((st, b["total"].clone()), (StatusCode::OK, json!(1)));
    let (st, _) = call(&s, Method::GET, &format!("/api/users/{sam}"), &boss, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(
        &s,
        Method::DELETE,
        &format!("/api/users/{sam}"),
        &boss,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The platform admin sees every tenant's accounts.
    let (_, b) = call(&s, Method::GET, "/api/users", &admin, None).await;
    assert_eq!(b["total"], 3);

    // Deleting.
    let (st, _) = call(
        &s,
        Method::DELETE,
        &format!("/api/users/{sam}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = call(&s, Method::GET, &format!("/api/users/{sam}"), &admin, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    for action in [
        "user.created",
        "user.updated",
        "user.deleted",
        "tenant.created",
    ] {
        assert!(
            !mooring_core::audit::by_action(&s.db.db, action)
                .await
                .unwrap()
                .is_empty(),
            "{action} audited"
        );
    }
    assert!(matches!(
        mooring_core::audit::verify(&s.db.db).await.unwrap(),
        mooring_core::audit::Verdict::Intact { .. }
    ));
    s.stop().await;
}

mooring_core::on_both_backends!(accounts_flow);
