//! Paying through Stripe (the `StripeStandin`, since Stripe cannot run
//! here): the real async-stripe client opens a Checkout session with an
//! idempotency key; the signed webhook activates the subscription once even
//! when delivered three times and out of order; forged, stale and unsigned
//! webhooks are refused with 400 and change nothing; a refund arriving
//! before its payment waits (409) and applies once the payment is known.

use crate::common::stripe_standin::StripeStandin;
use crate::common::TestServer;
use mooring_core::{testkit, users};
use mooring_server::config::Config;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

async fn count(db: &mooring_core::Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

async fn stripe_flow(t: testkit::TestDb) {
    users::ensure_admin(&t.db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let db = t.db.clone();
    let (_admin, _pod, _customer, inv) =
        crate::common::sold_cloudpod(&db, "USD", "Jane", "jane@example.com").await;

    let standin = StripeStandin::start("sk_test_mooring", "whsec_mooring").await;
    let config = Config {
        stripe_secret_key: Some(SecretString::from("sk_test_mooring")),
        stripe_webhook_secret: Some(SecretString::from("whsec_mooring")),
        stripe_api_base: format!("{}/", standin.base),
        ..Config::default()
    };
    let s = TestServer::start_with(t, config).await;
    standin.set_webhook_url(&s.url("/api/payments/stripe/webhook"));
    let jwt = s.jwt(EMAIL, PASSWORD).await;

    // A Checkout session through the real client.
    let session_body = json!({ "invoiceId": inv.id, "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no" });
    let r = s
        .client
        .post(s.url("/api/payments/session"))
        .bearer_auth(&jwt)
        .json(&session_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sess: Value = r.json().await.unwrap();
    assert_eq!(sess["provider"], "stripe");
    let sid = sess["sessionId"].as_str().unwrap().to_string();
    assert_eq!(
        sess["checkoutUrl"],
        json!(format!("{}/pay/{sid}", standin.base))
    );
    let (path, form) = standin.requests().pop().unwrap();
    assert_eq!(path, "/v1/checkout/sessions");
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "999");
    assert_eq!(form["line_items[0][price_data][currency]"], "usd");
    assert_eq!(form["metadata[mooring_invoice_id]"], inv.id);
    assert_eq!(
        form["payment_intent_data[setup_future_usage]"],
        "off_session"
    );
    assert_eq!(form["customer_email"], "jane@example.com");
    // A second attempt is a new session (a new idempotency key).
    let r = s
        .client
        .post(s.url("/api/payments/session"))
        .bearer_auth(&jwt)
        .json(&session_body)
        .send()
        .await
        .unwrap();
    let again: Value = r.json().await.unwrap();
    assert_ne!(again["sessionId"], sess["sessionId"]);

    // Forged, stale, unsigned and garbled deliveries: 400, nothing changes.
    let events = standin.pay(&sid);
    let body = serde_json::to_vec(&events[0]).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forged = mooring_core::billing::stripe::sign(&body, "whsec_someone_else", now);
    let stale = mooring_core::billing::stripe::sign(&body, "whsec_mooring", now - 301);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let good = mooring_core::billing::stripe::sign(&body, "whsec_mooring", now);
    for (what, b, sig) in [
        ("forged", body.clone(), Some(forged)),
        ("stale", body.clone(), Some(stale)),
        ("unsigned", body.clone(), None),
        ("tampered", tampered, Some(good)),
        ("garbage", body.clone(), Some("t=abc,v1=zz".into())),
    ] {
        assert_eq!(
            standin.deliver_raw(b, sig).await,
            StatusCode::BAD_REQUEST,
            "{what}"
        );
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM stripe_events").await, 0);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM invoices WHERE status = 'paid'").await,
        0
    );

    // Delivered three times each, the intent before the session: paid once.
    for e in [
        &events[1], &events[0], &events[1], &events[0], &events[0], &events[1],
    ] {
        assert_eq!(standin.deliver(e).await, StatusCode::OK);
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM stripe_events").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'service.provision'"
        )
        .await,
        1,
        "activated once"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM credit_entries").await,
        0,
        "no double payment became credit"
    );
    let r = s
        .client
        .get(s.url(&format!("/api/invoices/{}", inv.id)))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    let paid: Value = r.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    let sub_status: String = sqlx::query_scalar("SELECT status FROM subscriptions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(sub_status, "active");
    let pm: Option<String> = sqlx::query_scalar("SELECT payment_method_id FROM subscriptions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        pm.is_some_and(|p| p.starts_with("pm_")),
        "the card is kept for renewals"
    );

    // A refund: applied once, the invoice refunded.
    let refund = standin.refund(&sid);
    assert_eq!(standin.deliver(&refund).await, StatusCode::OK);
    assert_eq!(standin.deliver(&refund).await, StatusCode::OK);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM refunds").await, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM invoices WHERE id = $1")
        .bind(&inv.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(status, "refunded");

    // A refund of a payment not seen yet waits: 409, not recorded, so Stripe retries.
    let early = standin.event("charge.refunded", json!({
        "id": "ch_x", "object": "charge", "payment_intent": "pi_unknown", "amount": 100, "amount_refunded": 100,
        "refunds": { "data": [{ "id": "re_x", "amount": 100 }] },
    }));
    assert_eq!(standin.deliver(&early).await, StatusCode::CONFLICT);
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = $1")
        .bind(early["id"].as_str().unwrap())
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(seen, 0);
    s.stop().await;
}

mooring_core::on_both_backends!(stripe_flow);

#[tokio::test]
async fn without_stripe_the_webhook_is_not_there() {
    let t = testkit::sqlite().await;
    let s = TestServer::start(t).await;
    let r = s
        .client
        .post(s.url("/api/payments/stripe/webhook"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "stripe_not_configured");
    s.stop().await;
}
