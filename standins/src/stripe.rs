//! `StripeStandin`: a local stand-in for the parts of Stripe's API Mooring
//! uses (Stripe cannot run here). It follows Stripe's documented API:
//! form-encoded `POST`s with bearer secret-key auth and `Idempotency-Key`
//! replay (the same key answers the first response again), complete
//! `checkout.session`, `payment_intent` and `refund` objects, `card_error`
//! answers with HTTP 402 for declined cards, and webhooks signed the way
//! Stripe signs them (`Stripe-Signature: t=…,v1=…`, HMAC-SHA256 of
//! `t.body`, computed here independently of Mooring's verifier).
//!
//! Endpoints: `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`,
//! `POST /v1/payment_intents` (off-session charges of a saved card),
//! `POST /v1/refunds`, and the hosted payment page `GET|POST /pay/{id}` a
//! Checkout session's `url` points at: paying there completes the session,
//! sends its events to the webhook endpoint and redirects to `success_url`.
//!
//! Tests drive it directly ("the customer paid", "this card declines") and
//! choose how events are delivered (twice, out of order); in `auto` mode
//! (the binary) every event is delivered as it happens.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SESSION_TEMPLATE: &str = include_str!("stripe_checkout_session.json");

/// How the hosted page delivers a payment's two events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Session completed, then intent succeeded: once each.
    #[default]
    Once,
    /// Each event three times, the intent first, interleaved: what a
    /// webhook endpoint must survive.
    ThriceOutOfOrder,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Value>,
    intents: HashMap<String, Value>,
    /// Refunds per PaymentIntent.
    refunds: HashMap<String, Vec<Value>>,
    /// Idempotency key → (status, body) first answered.
    idempotent: HashMap<String, (u16, Value)>,
    requests: Vec<(String, HashMap<String, String>)>,
    /// Every event the stand-in emitted, in order.
    events: Vec<Value>,
    declining: HashSet<String>,
    counter: u64,
}

#[derive(Clone)]
pub struct StripeStandin {
    pub base: String,
    secret_key: String,
    pub webhook_secret: String,
    webhook_url: Arc<Mutex<String>>,
    /// Deliver events as they happen (the binary); tests deliver themselves.
    auto_deliver: bool,
    delivery: Delivery,
    inner: Arc<Mutex<Inner>>,
    client: reqwest::Client,
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "type": kind, "message": message } })),
    )
        .into_response()
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `Stripe-Signature` for `body` at `t`, as Stripe computes it.
pub fn signature(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// `metadata[key]=value` form fields as an object.
fn metadata(form: &HashMap<String, String>) -> Value {
    Value::Object(
        form.iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("metadata[")
                    .and_then(|r| r.strip_suffix(']'))
                    .map(|key| (key.to_string(), Value::from(v.clone())))
            })
            .collect(),
    )
}

/// A complete `payment_intent` object (every field Stripe documents).
fn intent_object(id: &str, amount: i64, currency: &Value, created: i64) -> Value {
    json!({
        "id": id, "object": "payment_intent", "allowed_payment_method_types": null,
        "amount": amount, "amount_capturable": 0, "amount_details": null, "amount_received": 0,
        "application": null, "application_fee_amount": null, "automatic_payment_methods": null,
        "canceled_at": null, "cancellation_reason": null, "capture_method": "automatic",
        "client_secret": format!("{id}_secret_standin"), "confirmation_method": "automatic",
        "created": created, "currency": currency, "customer": null, "customer_account": null,
        "description": null, "excluded_payment_method_types": null, "hooks": null,
        "last_payment_error": null, "latest_charge": null, "livemode": false, "managed_payments": null,
        "metadata": {}, "next_action": null, "on_behalf_of": null, "payment_details": null,
        "payment_method": null, "payment_method_configuration_details": null,
        "payment_method_options": null, "payment_method_types": ["card"], "payment_record": null,
        "presentment_details": null, "processing": null, "receipt_email": null, "review": null,
        "setup_future_usage": null, "shipping": null, "source": null, "statement_descriptor": null,
        "statement_descriptor_suffix": null, "status": "requires_payment_method",
        "transfer_data": null, "transfer_group": null,
    })
}

/// A complete `refund` object.
fn refund_object(id: &str, amount: i64, currency: &Value, pi: &str, charge: &str) -> Value {
    json!({
        "id": id, "object": "refund", "amount": amount, "balance_transaction": null,
        "charge": charge, "created": unix_now(), "currency": currency, "customer": null,
        "customer_account": null, "description": null, "destination_details": null,
        "failure_balance_transaction": null, "failure_reason": null, "instructions_email": null,
        "metadata": {}, "next_action": null, "payment_intent": pi, "payment_method": null,
        "pending_reason": null, "presentment_details": null, "reason": null, "receipt_number": null,
        "source_transfer_reversal": null, "status": "succeeded", "transfer_reversal": null,
    })
}

impl StripeStandin {
    /// Start on a free loopback port; tests deliver events themselves.
    pub async fn start(secret_key: &str, webhook_secret: &str) -> StripeStandin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, secret_key, webhook_secret, false, Delivery::Once).await
    }

    /// Serve on `listener`; with `auto_deliver`, events go to the webhook
    /// URL as they happen.
    pub async fn serve(
        listener: tokio::net::TcpListener,
        secret_key: &str,
        webhook_secret: &str,
        auto_deliver: bool,
        delivery: Delivery,
    ) -> StripeStandin {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = StripeStandin {
            base,
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            webhook_url: Arc::new(Mutex::new(String::new())),
            auto_deliver,
            delivery,
            inner: Default::default(),
            client: reqwest::Client::new(),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(get_session))
            .route("/v1/payment_intents", post(create_intent))
            .route("/v1/refunds", post(create_refund))
            .route("/pay/{id}", get(pay_page).post(pay_submit))
            .with_state(me.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        me
    }

    pub fn set_webhook_url(&self, url: &str) {
        *self.webhook_url.lock().unwrap() = url.into();
    }

    /// Form fields of the requests made so far, by path.
    pub fn requests(&self) -> Vec<(String, HashMap<String, String>)> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Every event emitted so far (delivered or not).
    pub fn events(&self) -> Vec<Value> {
        self.inner.lock().unwrap().events.clone()
    }

    pub fn session(&self, id: &str) -> Value {
        self.inner.lock().unwrap().sessions[id].clone()
    }

    /// Saved card `pm` declines from now on (Stripe's `card_declined`).
    pub fn decline(&self, pm: &str) {
        self.inner.lock().unwrap().declining.insert(pm.into());
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut i = self.inner.lock().unwrap();
        i.counter += 1;
        format!("{prefix}_standin_{:06}", i.counter)
    }

    /// The customer pays session `id`: the session completes and the
    /// events Stripe would send are returned (not yet delivered).
    pub fn pay(&self, id: &str) -> Vec<Value> {
        let pi = self.next_id("pi");
        let pm = self.next_id("pm");
        let ch = self.next_id("ch");
        let (session, metadata, amount, currency, customer) = {
            let mut i = self.inner.lock().unwrap();
            let fresh = format!("cus_standin_{:06}", i.counter + 1);
            i.counter += 1;
            let s = i.sessions.get_mut(id).expect("known session");
            if s["customer"].is_null() {
                s["customer"] = fresh.into();
            }
            s["status"] = "complete".into();
            s["payment_status"] = "paid".into();
            s["payment_intent"] = pi.clone().into();
            (
                s.clone(),
                s["metadata"].clone(),
                s["amount_total"].as_i64().unwrap_or(0),
                s["currency"].clone(),
                s["customer"].clone(),
            )
        };
        let mut intent = intent_object(&pi, amount, &currency, unix_now());
        intent["amount_received"] = amount.into();
        intent["status"] = "succeeded".into();
        intent["metadata"] = metadata;
        intent["payment_method"] = pm.into();
        intent["customer"] = customer;
        intent["latest_charge"] = ch.into();
        self.inner
            .lock()
            .unwrap()
            .intents
            .insert(pi.clone(), intent.clone());
        vec![
            self.event("checkout.session.completed", session),
            self.event("payment_intent.succeeded", intent),
        ]
    }

    /// A full refund of the payment behind session `id`.
    pub fn refund(&self, id: &str) -> Value {
        let s = self.session(id);
        let pi = s["payment_intent"].as_str().unwrap_or_default().to_string();
        let amount = s["amount_total"].as_i64().unwrap_or(0);
        self.record_refund(&pi, amount).1
    }

    /// Refund `amount` of intent `pi`: the refund and its `charge.refunded`.
    fn record_refund(&self, pi: &str, amount: i64) -> (Value, Value) {
        let re = self.next_id("re");
        let (charge, total, currency, refunds) = {
            let mut i = self.inner.lock().unwrap();
            let intent = i.intents.get(pi).cloned().unwrap_or_else(|| json!({}));
            let charge = intent["latest_charge"]
                .as_str()
                .unwrap_or("ch_standin")
                .to_string();
            let currency = intent["currency"].clone();
            let refund = refund_object(&re, amount, &currency, pi, &charge);
            let list = i.refunds.entry(pi.to_string()).or_default();
            list.push(refund);
            (
                charge,
                intent["amount_received"].as_i64().unwrap_or(amount),
                currency,
                list.clone(),
            )
        };
        let refunded: i64 = refunds.iter().filter_map(|r| r["amount"].as_i64()).sum();
        let event = self.event(
            "charge.refunded",
            json!({
                "id": charge, "object": "charge", "amount": total, "amount_refunded": refunded,
                "currency": currency, "payment_intent": pi, "refunded": refunded >= total,
                "refunds": { "object": "list", "data": refunds },
            }),
        );
        (refunds.last().cloned().unwrap_or_default(), event)
    }

    /// An event of `kind` about `object`, recorded as emitted.
    pub fn event(&self, kind: &str, object: Value) -> Value {
        let e = json!({
            "id": self.next_id("evt"), "object": "event", "type": kind, "api_version": "2025-10-29.clover",
            "created": unix_now(), "livemode": false,
            "data": { "object": object },
        });
        self.inner.lock().unwrap().events.push(e.clone());
        e
    }

    /// Deliver `event` to the webhook endpoint, signed now; returns the status.
    pub async fn deliver(&self, event: &Value) -> StatusCode {
        let body = serde_json::to_vec(event).unwrap();
        let sig = signature(&body, &self.webhook_secret, unix_now());
        self.deliver_raw(body, Some(sig)).await
    }

    /// Deliver a body with any signature header (or none).
    pub async fn deliver_raw(&self, body: Vec<u8>, signature: Option<String>) -> StatusCode {
        let url = self.webhook_url.lock().unwrap().clone();
        let mut r = self
            .client
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(body);
        if let Some(s) = signature {
            r = r.header("stripe-signature", s);
        }
        match r.send().await {
            Ok(resp) => resp.status(),
            Err(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// In auto mode, deliver events shortly, as Stripe does (after the
    /// API call answered).
    fn auto_later(&self, events: Vec<Value>) {
        let me = self.clone();
        tokio::spawn(async move { me.auto(&events).await });
    }

    /// In auto mode, deliver events now (Stripe retries failures; so does
    /// this, a few times).
    async fn auto(&self, events: &[Value]) {
        if !self.auto_deliver || self.webhook_url.lock().unwrap().is_empty() {
            return;
        }
        for e in events {
            for _ in 0..5 {
                if self.deliver(e).await.is_success() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    }
}

/// Auth, form parsing, request log and idempotency replay shared by the
/// `POST /v1/...` endpoints. `Err` is the answer to give at once.
fn admit(
    me: &StripeStandin,
    path: &str,
    headers: &HeaderMap,
    body: &str,
) -> Result<(HashMap<String, String>, Option<String>), Response> {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", me.secret_key));
    if !authorized {
        return Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        ));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut i = me.inner.lock().unwrap();
    i.requests.push((path.into(), form.clone()));
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("{path} {k}"));
    if let Some((status, body)) = key.as_ref().and_then(|k| i.idempotent.get(k)) {
        return Err((
            StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
            Json(body.clone()),
        )
            .into_response());
    }
    Ok((form, key))
}

/// Answer `body` with `status`, remembered under the idempotency key.
fn answer(me: &StripeStandin, key: Option<String>, status: StatusCode, body: Value) -> Response {
    if let Some(k) = key {
        me.inner
            .lock()
            .unwrap()
            .idempotent
            .insert(k, (status.as_u16(), body.clone()));
    }
    (status, Json(body)).into_response()
}

fn missing(param: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        &format!("Missing required param: {param}."),
    )
}

async fn create_session(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (form, key) = match admit(&me, "/v1/checkout/sessions", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    for required in ["mode", "success_url", "line_items[0][quantity]"] {
        if !form.contains_key(required) {
            return missing(required);
        }
    }
    let amount: i64 = form
        .get("line_items[0][price_data][unit_amount]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let quantity: i64 = form["line_items[0][quantity]"].parse().unwrap_or(1);
    let id = me.next_id("cs_test");
    let now = unix_now();
    let mut s: Value = serde_json::from_str(SESSION_TEMPLATE).unwrap();
    s["id"] = id.clone().into();
    s["created"] = now.into();
    s["expires_at"] = (now + 24 * 3600).into();
    s["mode"] = form["mode"].clone().into();
    s["status"] = "open".into();
    s["payment_status"] = "unpaid".into();
    s["amount_subtotal"] = (amount * quantity).into();
    s["amount_total"] = (amount * quantity).into();
    s["currency"] = form
        .get("line_items[0][price_data][currency]")
        .cloned()
        .into();
    s["success_url"] = form.get("success_url").cloned().into();
    s["cancel_url"] = form.get("cancel_url").cloned().into();
    s["client_reference_id"] = form.get("client_reference_id").cloned().into();
    s["customer"] = form.get("customer").cloned().into();
    s["customer_email"] = form.get("customer_email").cloned().into();
    s["customer_creation"] = form.get("customer_creation").cloned().into();
    s["metadata"] = metadata(&form);
    s["payment_method_types"] = json!(["card"]);
    s["url"] = format!("{}/pay/{id}", me.base).into();
    me.inner.lock().unwrap().sessions.insert(id, s.clone());
    answer(&me, key, StatusCode::OK, s)
}

async fn get_session(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = admit(&me, "GET /v1/checkout/sessions", &headers, "") {
        return r;
    }
    match me.inner.lock().unwrap().sessions.get(&id) {
        Some(s) => Json(s.clone()).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such checkout.session: '{id}'"),
        ),
    }
}

/// `POST /v1/payment_intents` with `confirm=true`: charge a saved card.
async fn create_intent(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (form, key) = match admit(&me, "/v1/payment_intents", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    for required in ["amount", "currency"] {
        if !form.contains_key(required) {
            return missing(required);
        }
    }
    let Ok(amount) = form["amount"].parse::<i64>() else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Invalid integer: amount",
        );
    };
    if form.contains_key("off_session") && form.get("confirm").map(String::as_str) != Some("true") {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "off_session can only be used when confirm=true.",
        );
    }
    let pi = me.next_id("pi");
    let mut intent = intent_object(
        &pi,
        amount,
        &Value::from(form["currency"].clone()),
        unix_now(),
    );
    intent["metadata"] = metadata(&form);
    intent["customer"] = form.get("customer").cloned().into();
    intent["payment_method"] = form.get("payment_method").cloned().into();
    let confirm = form.get("confirm").map(String::as_str) == Some("true");
    let pm = form.get("payment_method").cloned();
    let declined = pm
        .as_ref()
        .is_some_and(|p| me.inner.lock().unwrap().declining.contains(p));
    if confirm && pm.is_some() && !declined {
        intent["status"] = "succeeded".into();
        intent["amount_received"] = amount.into();
        intent["latest_charge"] = me.next_id("ch").into();
        me.inner
            .lock()
            .unwrap()
            .intents
            .insert(pi.clone(), intent.clone());
        let event = me.event("payment_intent.succeeded", intent.clone());
        me.auto_later(vec![event]);
        return answer(&me, key, StatusCode::OK, intent);
    }
    if !confirm || pm.is_none() {
        me.inner
            .lock()
            .unwrap()
            .intents
            .insert(pi.clone(), intent.clone());
        return answer(&me, key, StatusCode::OK, intent);
    }
    // A declined card: HTTP 402, a card_error carrying the intent.
    let error = json!({
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.", "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    });
    intent["last_payment_error"] = error.clone();
    let mut err = error;
    err["payment_intent"] = intent.clone();
    me.inner.lock().unwrap().intents.insert(pi, intent.clone());
    let event = me.event("payment_intent.payment_failed", intent);
    me.auto_later(vec![event]);
    answer(
        &me,
        key,
        StatusCode::PAYMENT_REQUIRED,
        json!({ "error": err }),
    )
}

/// `POST /v1/refunds`: refund (part of) a PaymentIntent.
async fn create_refund(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (form, key) = match admit(&me, "/v1/refunds", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(pi) = form.get("payment_intent") else {
        return missing("payment_intent");
    };
    let (received, refunded) = {
        let i = me.inner.lock().unwrap();
        let Some(intent) = i.intents.get(pi) else {
            return stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("No such payment_intent: '{pi}'"),
            );
        };
        let refunded: i64 = i
            .refunds
            .get(pi)
            .map(|l| l.iter().filter_map(|r| r["amount"].as_i64()).sum())
            .unwrap_or(0);
        (intent["amount_received"].as_i64().unwrap_or(0), refunded)
    };
    let left = received - refunded;
    let amount = match form.get("amount").map(|a| a.parse::<i64>()) {
        None => left,
        Some(Ok(a)) if a > 0 => a,
        Some(_) => {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "Invalid positive integer: amount",
            )
        }
    };
    if amount > left || left <= 0 {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            ),
        );
    }
    let (refund, event) = me.record_refund(pi, amount);
    me.auto_later(vec![event]);
    answer(&me, key, StatusCode::OK, refund)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The hosted payment page of a Checkout session.
async fn pay_page(State(me): State<StripeStandin>, Path(id): Path<String>) -> Response {
    let Some(s) = me.inner.lock().unwrap().sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("No such checkout session")).into_response();
    };
    let amount = s["amount_total"].as_i64().unwrap_or(0);
    let currency = s["currency"].as_str().unwrap_or("").to_uppercase();
    let email = s["customer_email"].as_str().unwrap_or("");
    let done = s["status"] == "complete";
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stripe stand-in checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Stripe stand-in checkout</h1>
<p>This local page stands in for Stripe's hosted Checkout (Stripe cannot run here).</p>
<p data-testid="checkout-amount">{}.{:02} {}</p><p>{}</p>
{}
<p><a href="{}">Back</a></p></main></body></html>"#,
        amount / 100,
        amount % 100,
        escape(&currency),
        escape(email),
        if done {
            "<p>This session is paid.</p>".to_string()
        } else {
            format!(
                r#"<form method="post" action="/pay/{}"><label>Card number <input name="card" value="4242 4242 4242 4242"></label> <button type="submit">Pay</button></form>"#,
                escape(&id)
            )
        },
        escape(s["cancel_url"].as_str().unwrap_or("/")),
    );
    Html(body).into_response()
}

/// Paying on the hosted page: the session completes, its events are sent,
/// and the browser goes back to the `success_url`.
async fn pay_submit(State(me): State<StripeStandin>, Path(id): Path<String>) -> Response {
    let Some(s) = me.inner.lock().unwrap().sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("No such checkout session")).into_response();
    };
    if s["status"] != "complete" {
        let events = me.pay(&id);
        let order = match me.delivery {
            Delivery::Once => events.clone(),
            Delivery::ThriceOutOfOrder => {
                let (session, intent) = (events[0].clone(), events[1].clone());
                vec![
                    intent.clone(),
                    session.clone(),
                    intent.clone(),
                    session.clone(),
                    session,
                    intent,
                ]
            }
        };
        me.auto(&order).await;
    }
    let to = s["success_url"]
        .as_str()
        .unwrap_or("/")
        .replace("{CHECKOUT_SESSION_ID}", &id);
    Redirect::to(&to).into_response()
}
