//! `Idempotency-Key` on a real server, both backends: a client whose order
//! answer was lost retries and gets one order, one invoice, one subscription;
//! another body with the same key is refused; keys are per credential; two
//! duplicates sent at once make one order; refusals replay in the surface's
//! shape.

use crate::common::TestServer;
use mooring_core::{testkit, users, Db};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const OTHER: &str = "other-ops@example.com";
const PASSWORD: &str = "correct horse battery";

/// POST `body` to `path` with a bearer credential and maybe a key: status,
/// whether it was a replay, and the body.
async fn post(
    s: &TestServer,
    path: &str,
    bearer: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let mut r = s.client.post(s.url(path)).bearer_auth(bearer).json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    let r = r.send().await.unwrap();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (r.status(), replayed, r.json().await.unwrap_or(Value::Null))
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// `(orders, invoices, subscriptions)`.
async fn sold(db: &Db) -> (i64, i64, i64) {
    (
        count(db, "orders").await,
        count(db, "invoices").await,
        count(db, "subscriptions").await,
    )
}

async fn idempotent_creates(t: testkit::TestDb) {
    for email in [EMAIL, OTHER] {
        users::ensure_admin(&t.db, email, SecretString::from(PASSWORD))
            .await
            .unwrap();
    }
    let db = t.db.clone();
    let s = TestServer::start(t).await;
    let jwt = s.jwt(EMAIL, PASSWORD).await;
    let other = s.jwt(OTHER, PASSWORD).await;

    // A product and a customer, created with keys too (a retry makes no second one).
    let product = json!({
        "name": "CloudPod Mini", "type": "cloudpod", "sku": "CPOD-MINI",
        "billingCycles": [{ "cycle": "monthly", "price": 9.99, "currency": "USD" }]
    });
    let (st, replayed, pod) = post(&s, "/api/products", &jwt, Some("product-1"), &product).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, false), "{pod}");
    let (st, replayed, again) = post(&s, "/api/products", &jwt, Some("product-1"), &product).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, true), "{again}");
    assert_eq!(again, pod);
    assert_eq!(count(&db, "products").await, 1);
    let pod_id = pod["id"].as_str().unwrap().to_string();
    let customer = json!({ "name": "John Doe", "email": "john@example.com" });
    let (st, _, cust) = post(&s, "/api/customers", &jwt, Some("customer-1"), &customer).await;
    assert_eq!(st, StatusCode::CREATED, "{cust}");
    let cust_id = cust["id"].as_str().unwrap().to_string();

    // The order: its answer is "lost", the client sends it again.
    let order = json!({
        "customerId": cust_id,
        "items": [{ "productId": pod_id, "billingCycle": "monthly" }]
    });
    let (st, replayed, first) = post(&s, "/api/orders", &jwt, Some("order-1"), &order).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, false), "{first}");
    assert_eq!(sold(&db).await, (1, 1, 1));
    for _ in 0..2 {
        let (st, replayed, retry) = post(&s, "/api/orders", &jwt, Some("order-1"), &order).await;
        assert_eq!((st, replayed), (StatusCode::CREATED, true), "{retry}");
        assert_eq!(retry, first, "the first answer, again");
    }
    assert_eq!(
        sold(&db).await,
        (1, 1, 1),
        "one order, one invoice, one subscription"
    );

    // The same key with another body is refused, and nothing is created.
    let bigger = json!({
        "customerId": cust_id,
        "items": [{ "productId": pod_id, "billingCycle": "monthly", "quantity": 2 }]
    });
    let (st, replayed, b) = post(&s, "/api/orders", &jwt, Some("order-1"), &bigger).await;
    assert_eq!(
        (st, replayed, b["error"]["code"].clone(), b["code"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            json!("idempotency_key_reused"),
            json!("idempotency_key_reused")
        ),
        "{b}"
    );
    assert_eq!(sold(&db).await, (1, 1, 1));

    // Keys are per credential: another user's same key is a new request.
    let (st, replayed, theirs) = post(&s, "/api/orders", &other, Some("order-1"), &order).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, false), "{theirs}");
    assert_ne!(theirs["order"]["id"], first["order"]["id"]);
    assert_eq!(sold(&db).await, (2, 2, 2));
    // ... and so is a token's, even one of the same user.
    let (st, _, token) = post(
        &s,
        "/api/v1/tokens",
        &jwt,
        Some("token-1"),
        &json!({ "name": "ci", "kind": "personal", "scopes": ["admin"] }),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{token}");
    let secret = token["secret"].as_str().unwrap().to_string();
    let (st, replayed, by_token) = post(&s, "/api/orders", &secret, Some("order-1"), &order).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, false), "{by_token}");
    let (st, replayed, again) = post(&s, "/api/orders", &secret, Some("order-1"), &order).await;
    assert_eq!((st, replayed, again), (StatusCode::CREATED, true, by_token));
    assert_eq!(sold(&db).await, (3, 3, 3));
    // Without a key, every request is its own.
    let (st, replayed, _) = post(&s, "/api/orders", &jwt, None, &order).await;
    assert_eq!((st, replayed), (StatusCode::CREATED, false));
    assert_eq!(sold(&db).await, (4, 4, 4));

    // Two duplicates at once: one order, both get its answer.
    let (a, b) = tokio::join!(
        post(&s, "/api/orders", &jwt, Some("order-race"), &order),
        post(&s, "/api/orders", &jwt, Some("order-race"), &order),
    );
    assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(a.2, b.2, "both answers are the one order");
    assert!(a.1 ^ b.1, "exactly one of them is a replay");
    assert_eq!(sold(&db).await, (5, 5, 5));
    let mut racers = Vec::new();
    for _ in 0..4 {
        let (client, url, jwt, order) = (
            s.client.clone(),
            s.url("/api/orders"),
            jwt.clone(),
            order.clone(),
        );
        racers.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(jwt)
                .header("Idempotency-Key", "order-race-2")
                .json(&order)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for r in racers {
        let (st, b) = r.await.unwrap();
        assert_eq!(st, StatusCode::CREATED, "{b}");
        ids.insert(b["order"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "four racers, one order");
    assert_eq!(sold(&db).await, (6, 6, 6));

    // A refusal is kept and replayed, in the shape of its surface.
    let bad = json!({ "name": "x", "kind": "personal", "scopes": ["everything"] });
    let (st, replayed, first) = post(&s, "/api/v1/tokens", &jwt, Some("bad-token"), &bad).await;
    assert_eq!(
        (st, replayed),
        (StatusCode::UNPROCESSABLE_ENTITY, false),
        "{first}"
    );
    let (st, replayed, again) = post(&s, "/api/v1/tokens", &jwt, Some("bad-token"), &bad).await;
    assert_eq!(
        (st, replayed),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{again}"
    );
    assert_eq!(again, first);
    assert!(
        again["error"]["code"].is_string(),
        "rustploy's shape: {again}"
    );
    assert!(again.get("code").is_none(), "rustploy's shape: {again}");

    // Keys must be 1 to 255 printable characters.
    for key in [String::new(), "k".repeat(256)] {
        let (st, _, b) = post(&s, "/api/orders", &jwt, Some(&key), &order).await;
        assert_eq!(
            (st, b["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_idempotency_key")),
            "{b}"
        );
    }
    assert_eq!(sold(&db).await, (6, 6, 6));
    // Anonymous callers are refused by the route as ever.
    let r = s
        .client
        .post(s.url("/api/orders"))
        .header("Idempotency-Key", "anon")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

mooring_core::on_both_backends!(idempotent_creates);
