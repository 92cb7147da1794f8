//! `StripeStandin`: a local stand-in for the parts of Stripe's API Mooring
//! uses (Stripe cannot run here). It follows Stripe's documented API:
//! form-encoded `POST /v1/checkout/sessions` with bearer secret-key auth and
//! `Idempotency-Key` replay, complete `checkout.session` objects, and
//! webhooks signed the way Stripe signs them (`Stripe-Signature: t=…,v1=…`,
//! HMAC-SHA256 of `t.body`). Tests drive payment through it ("the customer
//! paid") and choose how events are delivered (twice, out of order).

#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

const TEMPLATE: &str = include_str!("stripe_checkout_session.json");

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Value>,
    /// Idempotency key → session id.
    idempotent: HashMap<String, String>,
    requests: Vec<(String, HashMap<String, String>)>,
    counter: u64,
}

#[derive(Clone)]
pub struct StripeStandin {
    pub base: String,
    secret_key: String,
    pub webhook_secret: String,
    webhook_url: Arc<Mutex<String>>,
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

impl StripeStandin {
    pub async fn start(secret_key: &str, webhook_secret: &str) -> StripeStandin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = StripeStandin {
            base: base.clone(),
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            webhook_url: Arc::new(Mutex::new(String::new())),
            inner: Default::default(),
            client: reqwest::Client::new(),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(get_session))
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

    pub fn session(&self, id: &str) -> Value {
        self.inner.lock().unwrap().sessions[id].clone()
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
        let cus = self.next_id("cus");
        let (session, metadata, amount, currency) = {
            let mut i = self.inner.lock().unwrap();
            let s = i.sessions.get_mut(id).expect("known session");
            s["status"] = "complete".into();
            s["payment_status"] = "paid".into();
            s["payment_intent"] = pi.clone().into();
            s["customer"] = cus.clone().into();
            (
                s.clone(),
                s["metadata"].clone(),
                s["amount_total"].clone(),
                s["currency"].clone(),
            )
        };
        let intent = json!({
            "id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": currency, "status": "succeeded", "metadata": metadata,
            "payment_method": pm, "customer": cus,
        });
        vec![
            self.event("checkout.session.completed", session),
            self.event("payment_intent.succeeded", intent),
        ]
    }

    /// A full refund of the payment behind session `id`.
    pub fn refund(&self, id: &str) -> Value {
        let s = self.session(id);
        let re = self.next_id("re");
        let ch = self.next_id("ch");
        self.event(
            "charge.refunded",
            json!({
                "id": ch, "object": "charge", "amount": s["amount_total"], "amount_refunded": s["amount_total"],
                "currency": s["currency"], "payment_intent": s["payment_intent"], "refunded": true,
                "refunds": { "object": "list", "data": [{ "id": re, "object": "refund", "amount": s["amount_total"] }] },
            }),
        )
    }

    pub fn event(&self, kind: &str, object: Value) -> Value {
        json!({
            "id": self.next_id("evt"), "object": "event", "type": kind, "api_version": "2025-10-29.clover",
            "created": time::OffsetDateTime::now_utc().unix_timestamp(), "livemode": false,
            "data": { "object": object },
        })
    }

    /// Deliver `event` to the webhook endpoint, signed now; returns the status.
    pub async fn deliver(&self, event: &Value) -> StatusCode {
        let body = serde_json::to_vec(event).unwrap();
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let sig = mooring_core::billing::stripe::sign(&body, &self.webhook_secret, t);
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
        r.send().await.unwrap().status()
    }
}

fn authorized(me: &StripeStandin, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", me.secret_key))
}

async fn create_session(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !authorized(&me, &headers) {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        );
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    me.inner
        .lock()
        .unwrap()
        .requests
        .push(("/v1/checkout/sessions".into(), form.clone()));
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        let i = me.inner.lock().unwrap();
        if let Some(id) = i.idempotent.get(key) {
            return Json(i.sessions[id].clone()).into_response();
        }
    }
    for required in ["mode", "success_url", "line_items[0][quantity]"] {
        if !form.contains_key(required) {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("Missing required param: {required}."),
            );
        }
    }
    let amount: i64 = form
        .get("line_items[0][price_data][unit_amount]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let quantity: i64 = form["line_items[0][quantity]"].parse().unwrap_or(1);
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|r| r.strip_suffix(']'))
                .map(|key| (key.to_string(), Value::from(v.clone())))
        })
        .collect();
    let id = me.next_id("cs_test");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut s: Value = serde_json::from_str(TEMPLATE).unwrap();
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
    s["customer_email"] = form.get("customer_email").cloned().into();
    s["metadata"] = Value::Object(metadata);
    s["payment_method_types"] = json!(["card"]);
    s["url"] = format!("{}/pay/{id}", me.base).into();
    let mut i = me.inner.lock().unwrap();
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        i.idempotent.insert(key.to_string(), id.clone());
    }
    i.sessions.insert(id, s.clone());
    Json(s).into_response()
}

async fn get_session(
    State(me): State<StripeStandin>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&me, &headers) {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        );
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
