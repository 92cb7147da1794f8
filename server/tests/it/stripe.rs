//! Paying through Stripe (the `StripeStandin`, since Stripe cannot run
//! here): the real async-stripe client opens a Checkout session with an
//! idempotency key; the signed webhook activates the subscription once even
//! when delivered three times and out of order; forged, stale and unsigned
//! webhooks are refused with 400 and change nothing; a refund arriving
//! before its payment waits (409) and applies once the payment is known.

use crate::common::TestServer;
use mooring_core::{testkit, users};
use mooring_server::config::Config;
use mooring_standins::stripe::StripeStandin;
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

async fn invoice_of_period(db: &mooring_core::Db, n: i64) -> (String, String, Option<String>) {
    sqlx::query_as("SELECT id, status, charge_error FROM invoices WHERE number = $1")
        .bind(n)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn renews_at(db: &mooring_core::Db) -> time::OffsetDateTime {
    let r: String = sqlx::query_scalar("SELECT renews_at FROM subscriptions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    mooring_core::clock::parse(&r).unwrap()
}

/// Renewals charge the card saved at checkout, off-session, once; a
/// declined card is recorded and dunning goes on; an admin refund goes
/// through Stripe and is recorded once, also when its webhook follows.
async fn renewal_charges(t: testkit::TestDb) {
    use mooring_core::billing::lifecycle::{self, Policy};
    use mooring_core::billing::stripe::{Charger, StripeConfig, CHARGE};
    use mooring_core::jobs::{Registry, Worker};
    use time::Duration;

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
    let r = s
        .client
        .post(s.url("/api/payments/session"))
        .bearer_auth(&jwt)
        .json(&json!({ "invoiceId": inv.id, "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no" }))
        .send()
        .await
        .unwrap();
    let sess: Value = r.json().await.unwrap();
    let (_, form) = standin.requests().pop().unwrap();
    assert_eq!(
        form["customer_creation"], "always",
        "the card is saved on a Stripe customer"
    );
    for e in standin.pay(sess["sessionId"].as_str().unwrap()) {
        assert_eq!(standin.deliver(&e).await, StatusCode::OK);
    }
    let (pm, cus): (String, String) = sqlx::query_as(
        "SELECT s.payment_method_id, c.stripe_customer_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();

    let policy = Policy {
        auto_charge: true,
        ..Policy::default()
    };
    let worker = Worker::new(
        db.clone(),
        Registry::new().register(
            CHARGE,
            Charger {
                config: StripeConfig {
                    secret_key: "sk_test_mooring".into(),
                    webhook_secret: "whsec_mooring".into(),
                    api_base: format!("{}/", standin.base),
                },
            },
        ),
    );
    let drain = || async { while worker.run_one().await.unwrap() {} };

    // Renewal: invoiced ahead, charged when due, once.
    let renews = renews_at(&db).await;
    let r = lifecycle::sweep(&db, policy, renews - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(
        (r.invoiced, r.charging),
        (1, 0),
        "not charged before it is due"
    );
    let r = lifecycle::sweep(&db, policy, renews).await.unwrap();
    assert_eq!(r.charging, 1);
    let r = lifecycle::sweep(&db, policy, renews).await.unwrap();
    assert_eq!(r.charging, 0, "one charge per invoice");
    drain().await;
    let (second, status, error) = invoice_of_period(&db, 2).await;
    assert_eq!((status.as_str(), error), ("paid", None));
    let (path, form) = standin
        .requests()
        .into_iter()
        .rfind(|(p, _)| p == "/v1/payment_intents")
        .expect("a PaymentIntent was created");
    assert_eq!(path, "/v1/payment_intents");
    assert_eq!(form["amount"], "999");
    assert_eq!(form["currency"], "usd");
    assert_eq!(form["confirm"], "true");
    assert_eq!(form["off_session"], "true");
    assert_eq!(form["payment_method"], pm);
    assert_eq!(form["customer"], cus);
    assert_eq!(form["metadata[mooring_invoice_id]"], second);
    // Stripe's webhook for the same intent changes nothing.
    let succeeded = standin.events().pop().unwrap();
    assert_eq!(succeeded["type"], "payment_intent.succeeded");
    assert_eq!(standin.deliver(&succeeded).await, StatusCode::OK);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM payments WHERE invoice_id = '{second}'")
        )
        .await,
        1
    );
    let status: String = sqlx::query_scalar("SELECT status FROM subscriptions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(status, "active");

    // The next renewal: the card declines. Recorded; the customer is told
    // (from the failure webhook); dunning goes on.
    standin.decline(&pm);
    let renews = renews_at(&db).await;
    lifecycle::sweep(&db, policy, renews - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(
        lifecycle::sweep(&db, policy, renews)
            .await
            .unwrap()
            .charging,
        1
    );
    drain().await;
    let (third, status, error) = invoice_of_period(&db, 3).await;
    assert_eq!(status, "unpaid");
    assert_eq!(error.as_deref(), Some("Your card has insufficient funds."));
    let failed = standin.events().pop().unwrap();
    assert_eq!(failed["type"], "payment_intent.payment_failed");
    assert_eq!(standin.deliver(&failed).await, StatusCode::OK);
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) FROM jobs WHERE kind = 'billing.notify' AND payload LIKE '%payment_failed%' AND payload LIKE '%{third}%'")
        )
        .await,
        1,
        "one payment-failed notice"
    );
    let r = lifecycle::sweep(&db, policy, renews + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(r.past_due, 1, "a failed charge does not hold dunning");
    let r = s
        .client
        .get(s.url(&format!("/api/invoices/{third}")))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unpaid");
    assert_eq!(body["chargeError"], "Your card has insufficient funds.");

    // Still unpaid after the grace period: suspended. The customer pays
    // by card through Checkout: the service comes back.
    let r = lifecycle::sweep(&db, policy, renews + Duration::days(4))
        .await
        .unwrap();
    assert_eq!(r.suspended, 1);
    let r = s
        .client
        .post(s.url("/api/payments/session"))
        .bearer_auth(&jwt)
        .json(&json!({ "invoiceId": third, "successUrl": "https://shop.example/ok", "cancelUrl": "https://shop.example/no" }))
        .send()
        .await
        .unwrap();
    let sess: Value = r.json().await.unwrap();
    let (_, form) = standin.requests().pop().unwrap();
    assert_eq!(form["customer"], cus, "the known Stripe customer is reused");
    assert!(!form.contains_key("customer_email"));
    for e in standin.pay(sess["sessionId"].as_str().unwrap()) {
        assert_eq!(standin.deliver(&e).await, StatusCode::OK);
    }
    let (_, status, _) = invoice_of_period(&db, 3).await;
    assert_eq!(status, "paid");
    let status: String = sqlx::query_scalar("SELECT status FROM subscriptions")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(status, "active");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'service.unsuspend'"
        )
        .await,
        1
    );

    // An admin refunds the second invoice: through Stripe, recorded once.
    let r = s
        .client
        .patch(s.url(&format!("/api/invoices/{second}/status")))
        .bearer_auth(&jwt)
        .json(&json!({ "status": "refunded" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "refunded");
    assert_eq!(body["amountRefunded"], json!(9.99));
    let (_, form) = standin.requests().pop().unwrap();
    assert!(form["payment_intent"].starts_with("pi_"));
    assert_eq!(form["amount"], "999");
    let refunded = standin.events().pop().unwrap();
    assert_eq!(refunded["type"], "charge.refunded");
    assert_eq!(standin.deliver(&refunded).await, StatusCode::OK);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM refunds").await,
        1,
        "the webhook of a refund made here records nothing more"
    );
    // Refunding again is refused: it is refunded.
    let r = s
        .client
        .patch(s.url(&format!("/api/invoices/{second}/status")))
        .bearer_auth(&jwt)
        .json(&json!({ "status": "refunded" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    s.stop().await;
}

mooring_core::on_both_backends!(renewal_charges);
