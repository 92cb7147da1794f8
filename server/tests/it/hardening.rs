//! Attacks and careless clients from the hardening issue (#12), each as a
//! caller would try it over HTTP.

use crate::common::{call, set_cookie, sold_cloudpod, TestServer};
use mooring_core::{
    billing::{customers, Viewer},
    identity::{Principal, Role, Scope, Via},
    testkit::{self, shop},
    users, DEFAULT_TENANT_ID,
};
use reqwest::{header, Method as M, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

fn field(b: &Value) -> Value {
    b["error"]["details"]["fields"][0]["field"].clone()
}

/// Another tenant with a CloudPod product, a customer and a subscription
/// (pending) to it. Returns the subscription's id.
async fn other_tenants_subscription(db: &mooring_core::Db) -> String {
    let boss = mooring_core::identity::user_by_email(db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let platform = Principal::for_user(&boss, Via::Session, Scope::Admin);
    let t2 = mooring_core::tenants::create(db, &platform, "Other", None, None)
        .await
        .unwrap();
    let theirs = Viewer::Operator {
        tenant: t2.id.clone(),
        admin: true,
    };
    let p = shop::product(
        db,
        &theirs,
        shop::monthly("Their pod", "cloudpod", "THEIRS", "1"),
    )
    .await;
    let c = shop::customer(db, &theirs, "Victim", "victim@other.test").await;
    shop::order(db, &theirs, &c.id, &p.id).await.2
}

/// Items 1 and 3, and the seed's own request: a pod binds only to a live
/// CloudPod subscription of this tenant and of the pod's customer that has
/// no pod yet; `template` is the plan's SKU.
async fn binding_a_pod_checks_its_subscription(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let (admin, product, customer, inv) = sold_cloudpod(&db, "USD", "Ann", "ann@example.com").await;
    let ours: String = sqlx::query_scalar("SELECT id FROM subscriptions WHERE order_id = $1")
        .bind(inv.order_id.as_deref().unwrap())
        .fetch_one(db.pool())
        .await
        .unwrap();
    let theirs = other_tenants_subscription(&db).await;
    let bob = shop::customer(&db, &admin, "Bob", "bob@example.com").await;
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    let pod = |sub: &str, customer: &str, name: &str| json!({ "customerId": customer, "subscriptionId": sub, "productId": product, "name": name });
    // Another tenant's subscription, a made-up one, another customer's.
    for (sub, cust, why) in [
        (theirs.as_str(), customer.as_str(), "another tenant's"),
        (
            "00000000-0000-0000-0000-000000000001",
            customer.as_str(),
            "made up",
        ),
        (ours.as_str(), bob.id.as_str(), "another customer's"),
    ] {
        let (st, b) = call(
            &s,
            M::POST,
            "/api/cloudpods",
            &jwt,
            Some(pod(sub, cust, "p1")),
        )
        .await;
        assert_eq!(
            (st, field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("subscriptionId")),
            "{why}: {b}"
        );
    }
    let (st, b) = call(
        &s,
        M::POST,
        "/api/cloudpods",
        &jwt,
        Some(pod(&ours, &customer, "p1")),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // Bound already: the right message, naming no pod.
    let (st, b) = call(
        &s,
        M::POST,
        "/api/cloudpods",
        &jwt,
        Some(pod(&ours, &customer, "p2")),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["message"], "this subscription already has a CloudPod");
    // The seed's request: the plan by its SKU.
    let (st, b) = call(
        &s,
        M::POST,
        "/api/cloudpods",
        &jwt,
        Some(json!({ "customerId": customer, "name": "by-sku", "template": "CPOD" })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["cloudPod"]["template"], "CPOD");
    assert_eq!(b["cloudPod"]["productId"], json!(product));
    assert_eq!(b["cloudPod"]["image"], "debian");
    let (st, b) = call(
        &s,
        M::POST,
        "/api/cloudpods",
        &jwt,
        Some(json!({ "customerId": customer, "name": "no-such", "template": "CPOD-NONE" })),
    )
    .await;
    assert_eq!(
        (st, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("template"))
    );
    s.stop().await;
}

mooring_core::on_both_backends!(binding_a_pod_checks_its_subscription);

/// Items 2, 5, 6 and 7: customers are refused operators' routes at the edge
/// (jobs included), a cross-site sign-out is refused, API keys mint nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_refusals() {
    let t = testkit::sqlite().await;
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let (admin, _, customer, _) = sold_cloudpod(&db, "USD", "Ann", "ann@example.com").await;
    customers::create_login(&db, &admin, "op", &customer, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let (key, secret) =
        mooring_core::identity::api_keys::create(&db, DEFAULT_TENANT_ID, "k", None, None)
            .await
            .unwrap();
    let s = TestServer::start(t).await;
    let ann = s.jwt("ann@example.com", PASSWORD).await;
    // A customer lists no jobs (other customers' ids, kinds, node output).
    let (st, b) = call(&s, M::GET, "/api/jobs", &ann, None).await;
    assert_eq!(
        (st, b["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    let (st, _) = call(&s, M::GET, "/api/servers", &ann, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // ...but her own invoices, yes.
    let (st, b) = call(&s, M::GET, "/api/invoices", &ann, None).await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // API keys cannot mint credentials: tokens, keys, accounts.
    let with_key = |m: M, path: &str, body: Value| {
        s.client
            .request(m, s.url(path))
            .header("x-api-key", &secret)
            .json(&body)
    };
    for (path, body) in [
        (
            "/api/v1/tokens",
            json!({ "name": "minted", "kind": "service", "scopes": ["admin"] }),
        ),
        ("/api/apikeys", json!({ "name": "minted" })),
        (
            "/api/users",
            json!({ "name": "Minted", "email": "minted@example.com", "password": "another long password", "roles": ["admin"] }),
        ),
    ] {
        let r = with_key(M::POST, path, body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with a key");
        let b: Value = r.json().await.unwrap();
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("API keys cannot"), "{b}");
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "no token was minted");
    // The key still reads.
    let r = with_key(M::GET, "/api/customers", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let _ = key;

    // A cross-site sign-out does not end the session.
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(s.url("/api/login"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = set_cookie(&r);
    let r = c
        .post(s.url("/api/logout"))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let me = |c: &reqwest::Client| {
        c.get(s.url("/api/v1/auth/me"))
            .header(header::COOKIE, &cookie)
            .send()
    };
    assert_eq!(
        me(&c).await.unwrap().status(),
        StatusCode::OK,
        "still signed in"
    );
    let r = c
        .post(s.url("/api/logout"))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(me(&c).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // A customer's session is refused the operators' forms and server
    // functions before any handler runs; unknown functions do not exist.
    let r = c
        .post(s.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", "ann@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let ann_cookie = set_cookie(&r);
    let post = |path: &str| {
        c.post(s.url(path))
            .header(header::COOKIE, &ann_cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[("name", "x")])
            .send()
    };
    assert_eq!(
        post("/_fn/admin_jobs").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post("/_fn/no_such_function").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("/admin/customers").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = post("/_fn/billing_invoices").await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "her invoices: {:?}",
        r.text().await
    );
    s.stop().await;
}

/// Item 8: a customer login's viewer cannot carry an empty customer id.
#[test]
fn a_customer_viewer_never_has_an_empty_customer() {
    use mooring_core::billing::CustomerId;
    assert!(CustomerId::new("").is_none());
    assert!(CustomerId::new("  ").is_none());
    let v = Viewer::Customer {
        tenant: DEFAULT_TENANT_ID.into(),
        customer: CustomerId::new("c1").unwrap(),
    };
    assert_eq!(v.customer_scope(Some("other")), "c1");
    let op = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    assert_eq!(op.customer_scope(None), "");
    let _ = Role::Customer;
}
