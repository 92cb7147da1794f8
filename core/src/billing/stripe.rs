//! Stripe: Checkout sessions through async-stripe, and webhooks verified
//! before they are read and applied once.
//!
//! Webhook rules: the `Stripe-Signature` header carries `t=<unix time>` and
//! one or more `v1=<hex>`; a signature is the HMAC-SHA256 of `t.` + the raw
//! body under the endpoint's secret, compared in constant time, and the
//! timestamp must be within the tolerance (300 s). Each event id is stored
//! once (unique) in the transaction that applies it, so a repeated delivery
//! changes nothing; payments are keyed by their PaymentIntent, so the
//! several events of one payment (session completed, intent succeeded), in
//! any order, pay the invoice once.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{invoices, money};
use crate::{
    clock, events,
    jobs::{JobContext, JobError, JobHandler},
    CoreError, CoreResult, Db,
};

/// How Mooring reaches Stripe.
#[derive(Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    pub webhook_secret: String,
    /// `https://api.stripe.com/` or a stand-in (tests).
    pub api_base: String,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature is outside the tolerated time window")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Check a webhook's `Stripe-Signature` against the raw body.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed);
                }
                t = Some(v.parse().map_err(|_| SignatureError::Malformed)?);
            }
            "v1" => {
                if let Ok(bytes) = hex::decode(v) {
                    sigs.push(bytes);
                }
            }
            _ => {} // v0 and future schemes are ignored
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for sig in &sigs {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `Stripe-Signature` header Stripe would send for `body` at `t`.
pub fn sign(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What became of a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Seen before: nothing done.
    Duplicate,
    /// Not about anything Mooring sells (or a type it does not act on).
    Ignored,
}

fn invoice_of(obj: &Value) -> Option<String> {
    obj["metadata"]["mooring_invoice_id"]
        .as_str()
        .map(str::to_string)
}

/// Apply one verified event. Refuses (`Conflict`) an event that depends on
/// something not yet seen (a refund before its payment), so Stripe delivers
/// it again later.
pub async fn handle_event(db: &Db, event: &Value) -> CoreResult<Outcome> {
    let id = event["id"]
        .as_str()
        .ok_or_else(|| CoreError::Invalid("the event has no id".into()))?;
    let kind = event["type"]
        .as_str()
        .ok_or_else(|| CoreError::Invalid("the event has no type".into()))?;
    let obj = &event["data"]["object"];
    let mut tx = db.begin_write().await?;
    let fresh = sqlx::query(
        "INSERT INTO stripe_events (id, kind, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(clock::now())
    .execute(&mut *tx)
    .await?;
    if fresh.rows_affected() == 0 {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            match (
                invoice_of(obj),
                obj["payment_status"].as_str(),
                obj["payment_intent"].as_str(),
            ) {
                (Some(inv), Some("paid"), Some(pi)) => {
                    pay(
                        db,
                        &mut tx,
                        &inv,
                        pi,
                        obj["amount_total"].as_i64().unwrap_or(0),
                    )
                    .await?
                }
                _ => Outcome::Ignored,
            }
        }
        "payment_intent.succeeded" => match (invoice_of(obj), obj["id"].as_str()) {
            (Some(inv), Some(pi)) => {
                let outcome = pay(
                    db,
                    &mut tx,
                    &inv,
                    pi,
                    obj["amount_received"].as_i64().unwrap_or(0),
                )
                .await?;
                if let Some(pm) = obj["payment_method"].as_str() {
                    save_payment_method(&mut tx, &inv, pm, obj["customer"].as_str()).await?;
                }
                outcome
            }
            _ => Outcome::Ignored,
        },
        "payment_intent.payment_failed" => match invoice_of(obj) {
            Some(inv) => {
                let reason = obj["last_payment_error"]["message"]
                    .as_str()
                    .unwrap_or("the card was declined")
                    .to_string();
                let tenant: Option<String> =
                    sqlx::query_scalar("SELECT tenant_id FROM invoices WHERE id = $1")
                        .bind(&inv)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(tenant) = &tenant {
                    super::notices::enqueue(
                        db,
                        &mut tx,
                        tenant,
                        super::notices::Template::PaymentFailed,
                        Some(&inv),
                        None,
                        Some(reason.clone()),
                    )
                    .await?;
                }
                tx.commit().await?;
                if let Some(tenant) = tenant {
                    events::record(
                        db,
                        events::NewEvent {
                            tenant_id: &tenant,
                            source: "provisioning",
                            level: "warning",
                            kind: "payment.failed",
                            message: format!("payment of invoice {inv} failed: {reason}"),
                            job_id: None,
                            server_id: None,
                        },
                    )
                    .await;
                }
                return Ok(Outcome::Applied);
            }
            None => Outcome::Ignored,
        },
        "charge.refunded" => refund(&mut tx, obj).await?,
        _ => Outcome::Ignored,
    };
    tx.commit().await?;
    Ok(outcome)
}

async fn pay(
    db: &Db,
    tx: &mut sqlx::AnyConnection,
    invoice: &str,
    payment_intent: &str,
    amount: i64,
) -> CoreResult<Outcome> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM invoices WHERE id = $1")
        .bind(invoice)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Ok(Outcome::Ignored);
    }
    invoices::apply_payment(
        db,
        tx,
        invoice,
        invoices::Payment {
            provider: "stripe",
            reference: payment_intent,
            amount,
        },
    )
    .await?;
    Ok(Outcome::Applied)
}

/// Keep the card for renewals: on the customer and on the invoice's subscriptions.
async fn save_payment_method(
    tx: &mut sqlx::AnyConnection,
    invoice: &str,
    pm: &str,
    stripe_customer: Option<&str>,
) -> CoreResult<()> {
    let inv = invoices::load(tx, invoice).await?;
    sqlx::query(
        "UPDATE subscriptions SET payment_method_id = $1 WHERE (order_id = $2 OR id = $3) AND customer_id = $4",
    )
    .bind(pm)
    .bind(inv.order_id.as_deref().unwrap_or(""))
    .bind(inv.subscription_id.as_deref().unwrap_or(""))
    .bind(&inv.customer_id)
    .execute(&mut *tx)
    .await?;
    if let Some(c) = stripe_customer {
        sqlx::query("UPDATE customers SET stripe_customer_id = COALESCE(stripe_customer_id, $1) WHERE id = $2")
            .bind(c)
            .bind(&inv.customer_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// `charge.refunded`: the charge's refunds, each recorded once; the
/// payment's refunded amount only grows; a full refund refunds the invoice.
async fn refund(tx: &mut sqlx::AnyConnection, charge: &Value) -> CoreResult<Outcome> {
    let Some(pi) = charge["payment_intent"].as_str() else {
        return Ok(Outcome::Ignored);
    };
    let payment: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT id, invoice_id, amount FROM payments WHERE provider = 'stripe' AND provider_ref = $1",
    )
    .bind(pi)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((payment_id, invoice_id, amount)) = payment else {
        return Err(CoreError::Conflict(
            "this refund is for a payment not seen yet; deliver it again later".into(),
        ));
    };
    let refunded = charge["amount_refunded"]
        .as_i64()
        .unwrap_or(0)
        .clamp(0, amount);
    let now = clock::now();
    if let Some(list) = charge["refunds"]["data"].as_array() {
        for r in list {
            if let (Some(rid), Some(ramount)) = (r["id"].as_str(), r["amount"].as_i64()) {
                if ramount > 0 {
                    sqlx::query(
                        "INSERT INTO refunds (id, payment_id, provider_ref, amount, created_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (payment_id, provider_ref) DO NOTHING",
                    )
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&payment_id)
                    .bind(rid)
                    .bind(ramount)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
    }
    raise_refunded(tx, &payment_id, &invoice_id, refunded, amount, &now).await?;
    Ok(Outcome::Applied)
}

/// A payment's refunded amount is now `refunded` (of `paid`): it only
/// grows, on the payment and its invoice; all of it refunds the invoice.
async fn raise_refunded(
    tx: &mut sqlx::AnyConnection,
    payment_id: &str,
    invoice_id: &str,
    refunded: i64,
    paid: i64,
    now: &str,
) -> CoreResult<()> {
    sqlx::query("UPDATE payments SET amount_refunded = $1 WHERE id = $2 AND amount_refunded < $1")
        .bind(refunded)
        .bind(payment_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE invoices SET amount_refunded = $1, updated_at = $2 WHERE id = $3 AND amount_refunded < $1")
        .bind(refunded)
        .bind(now)
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
    if refunded >= paid {
        sqlx::query(
            "UPDATE invoices SET status = 'refunded', refunded_at = $1, updated_at = $1 WHERE id = $2 AND status = 'paid'",
        )
        .bind(now)
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A Checkout session for an invoice: one line per invoice line would not
/// add up with rounding, so one line for the amount due, named after the
/// invoice. The idempotency key is the invoice and the attempt: a retried
/// request never opens a second session for one attempt.
pub async fn checkout_session(
    cfg: &StripeConfig,
    inv: &invoices::Invoice,
    customer_email: &str,
    stripe_customer: Option<&str>,
    attempt: i64,
    success_url: &str,
    cancel_url: &str,
) -> CoreResult<(String, String)> {
    use stripe::StripeRequest;
    use stripe_checkout::checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionCustomerCreation,
        CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
        CreateCheckoutSessionPaymentIntentData,
        CreateCheckoutSessionPaymentIntentDataSetupFutureUsage, ProductData,
    };
    let client = client(cfg)?;
    let currency = currency(&inv.currency)?;
    let metadata = std::collections::HashMap::from([
        ("mooring_invoice_id".to_string(), inv.id.clone()),
        ("mooring_tenant_id".to_string(), inv.tenant_id.clone()),
    ]);
    let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency);
    price.unit_amount = Some(inv.amount_due);
    price.product_data = Some(ProductData::new(format!(
        "Invoice {} ({})",
        inv.display_number(),
        money::with_code(inv.amount_due, &inv.currency)
    )));
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price_data = Some(price);
    line.quantity = Some(1);
    let mut intent = CreateCheckoutSessionPaymentIntentData::new();
    intent.metadata = Some(metadata.clone());
    intent.setup_future_usage =
        Some(CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OffSession);
    let req = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Payment)
        .success_url(success_url)
        .cancel_url(cancel_url)
        .client_reference_id(inv.id.clone())
        .line_items(vec![line])
        .metadata(metadata)
        .payment_intent_data(intent);
    // The card is saved on a Stripe customer, so renewals can charge it.
    let req = match stripe_customer {
        Some(c) => req.customer(c),
        None => req
            .customer_email(customer_email)
            .customer_creation(CreateCheckoutSessionCustomerCreation::Always),
    };
    let strategy = idempotency(format!("mooring-invoice-{}-attempt-{attempt}", inv.id))?;
    let session = req
        .customize()
        .request_strategy(strategy)
        .send(&client)
        .await
        .map_err(|e| match e {
            stripe::StripeError::Stripe(e, _) => CoreError::Conflict(format!(
                "Stripe refused the checkout session: {}",
                e.message.clone().unwrap_or_default()
            )),
            other => CoreError::Unavailable(format!("Stripe could not be reached: {other}")),
        })?;
    let url = session
        .url
        .ok_or_else(|| CoreError::Internal("Stripe answered a session without a URL".into()))?;
    Ok((session.id.to_string(), url))
}

fn client(cfg: &StripeConfig) -> CoreResult<stripe::Client> {
    stripe::ClientBuilder::new(cfg.secret_key.clone())
        .url(cfg.api_base.clone())
        .build()
        .map_err(|e| CoreError::Internal(format!("Stripe client: {e}")))
}

fn currency(code: &str) -> CoreResult<stripe_types::Currency> {
    code.to_lowercase()
        .parse()
        .map_err(|_| CoreError::Invalid(format!("Stripe does not take {code}")))
}

fn idempotency(key: String) -> CoreResult<stripe::RequestStrategy> {
    stripe::IdempotencyKey::new(key)
        .map(stripe::RequestStrategy::Idempotent)
        .map_err(|e| CoreError::Internal(format!("idempotency key: {e}")))
}

pub const CHARGE: &str = "billing.charge";

/// The `billing.charge` job: charge the saved card of an invoice's
/// subscription off-session (a PaymentIntent confirmed at once). The
/// idempotency key is the invoice and the time the charge was started, so
/// a retried job never charges twice. Success pays the invoice here (and
/// the `payment_intent.succeeded` webhook, keyed by the same intent, then
/// changes nothing); a declined card is recorded on the invoice, and the
/// customer hears of it from the `payment_intent.payment_failed` webhook.
pub struct Charger {
    pub config: StripeConfig,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChargePayload {
    invoice_id: String,
}

#[async_trait::async_trait]
impl JobHandler for Charger {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        use stripe::StripeRequest;
        use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
        let p: ChargePayload = ctx.payload()?;
        let db = ctx.db();
        let inv = {
            let mut conn = db.pool().acquire().await.map_err(CoreError::from)?;
            invoices::load(&mut conn, &p.invoice_id).await?
        };
        if inv.status != "unpaid" || inv.amount_due <= 0 {
            ctx.log(
                "stdout",
                format!(
                    "invoice {} is {}; nothing to charge",
                    inv.display_number(),
                    inv.status
                ),
            )
            .await?;
            return Ok(());
        }
        let saved: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT s.payment_method_id, c.stripe_customer_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id \
             WHERE s.id = $1",
        )
        .bind(inv.subscription_id.as_deref().unwrap_or(""))
        .fetch_optional(db.pool())
        .await
        .map_err(CoreError::from)?;
        let (Some(pm), Some(customer)) = saved.unwrap_or((None, None)) else {
            return Err(JobError::permanent(
                "no_saved_card",
                format!(
                    "invoice {} has no saved card to charge",
                    inv.display_number()
                ),
            ));
        };
        let started = inv.charge_attempted_at.clone().unwrap_or_default();
        let metadata = std::collections::HashMap::from([
            ("mooring_invoice_id".to_string(), inv.id.clone()),
            ("mooring_tenant_id".to_string(), inv.tenant_id.clone()),
        ]);
        ctx.log(
            "stdout",
            format!(
                "charging {} for invoice {} to the saved card",
                money::with_code(inv.amount_due, &inv.currency),
                inv.display_number()
            ),
        )
        .await?;
        let client = client(&self.config)?;
        let req = CreatePaymentIntent::new(inv.amount_due, currency(&inv.currency)?)
            .customer(customer)
            .payment_method(pm)
            .confirm(true)
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .description(format!("Invoice {}", inv.display_number()))
            .metadata(metadata);
        let strategy = idempotency(format!("mooring-invoice-{}-charge-{started}", inv.id))?;
        match req
            .customize()
            .request_strategy(strategy)
            .send(&client)
            .await
        {
            Ok(pi) if pi.status == stripe_shared::PaymentIntentStatus::Succeeded => {
                let mut tx = db.begin_write().await?;
                invoices::apply_payment(
                    db,
                    &mut tx,
                    &inv.id,
                    invoices::Payment {
                        provider: "stripe",
                        reference: pi.id.as_str(),
                        amount: pi.amount_received,
                    },
                )
                .await?;
                tx.commit().await.map_err(CoreError::from)?;
                ctx.log("stdout", format!("paid by {}", pi.id.as_str()))
                    .await?;
                Ok(())
            }
            Ok(pi) => {
                let why = format!(
                    "the payment needs the customer (Stripe status {})",
                    pi.status.as_str()
                );
                record_charge_error(db, &inv.id, &why).await?;
                ctx.log("stderr", why).await?;
                Ok(())
            }
            Err(stripe::StripeError::Stripe(e, 402)) => {
                let why = e
                    .message
                    .clone()
                    .unwrap_or_else(|| "the card was declined".into());
                record_charge_error(db, &inv.id, &why).await?;
                ctx.log("stderr", format!("declined: {why}")).await?;
                Ok(())
            }
            Err(stripe::StripeError::Stripe(e, status))
                if (400..500).contains(&status) && status != 429 =>
            {
                let why = e
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("HTTP {status}"));
                record_charge_error(db, &inv.id, &why).await?;
                Err(JobError::permanent("stripe_refused", why))
            }
            Err(e) => Err(JobError::transient("stripe_unreachable", e.to_string())),
        }
    }
}

async fn record_charge_error(db: &Db, invoice: &str, why: &str) -> CoreResult<()> {
    sqlx::query("UPDATE invoices SET charge_error = $1, updated_at = $2 WHERE id = $3")
        .bind(why)
        .bind(clock::now())
        .bind(invoice)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Refund `amount` of a Stripe payment (by its PaymentIntent). The
/// idempotency key is the payment and the amount refunded before, so a
/// repeated click refunds once. The refund is recorded at once (keyed by
/// Stripe's refund id, as the `charge.refunded` webhook records it too).
pub async fn refund_payment(
    cfg: &StripeConfig,
    db: &Db,
    payment_id: &str,
    amount: i64,
) -> CoreResult<String> {
    use stripe::StripeRequest;
    use stripe_core::refund::CreateRefund;
    let (pi, refunded, invoice_id, paid): (String, i64, String, i64) = sqlx::query_as(
        "SELECT provider_ref, amount_refunded, invoice_id, amount FROM payments WHERE id = $1 AND provider = 'stripe'",
    )
    .bind(payment_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(CoreError::NotFound)?;
    let req = CreateRefund::new()
        .payment_intent(pi.clone())
        .amount(amount);
    let strategy = idempotency(format!("mooring-refund-{payment_id}-after-{refunded}"))?;
    let refund = req
        .customize()
        .request_strategy(strategy)
        .send(&client(cfg)?)
        .await
        .map_err(|e| match e {
            stripe::StripeError::Stripe(e, _) => CoreError::Conflict(format!(
                "Stripe refused the refund: {}",
                e.message.clone().unwrap_or_default()
            )),
            other => CoreError::Unavailable(format!("Stripe could not be reached: {other}")),
        })?;
    let mut tx = db.begin_write().await?;
    let now = clock::now();
    let fresh = sqlx::query(
        "INSERT INTO refunds (id, payment_id, provider_ref, amount, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (payment_id, provider_ref) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(payment_id)
    .bind(refund.id.as_str())
    .bind(refund.amount)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    if fresh.rows_affected() == 1 {
        let total = (refunded + refund.amount).min(paid);
        raise_refunded(&mut tx, payment_id, &invoice_id, total, paid, &now).await?;
    }
    tx.commit().await?;
    Ok(refund.id.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(body, "whsec_test", 1_000);
        assert_eq!(
            verify_signature(Some(&h), body, "whsec_test", 1_000, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&h), body, "whsec_test", 1_299, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&h), body, "whsec_test", 1_301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(Some(&h), body, "other", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&h), b"{}", "whsec_test", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(None, body, "whsec_test", 1_000, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some("garbage"), body, "whsec_test", 1_000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(Some("t=1000"), body, "whsec_test", 1_000, 300),
            Err(SignatureError::Mismatch)
        );
        // Several v1 (secret rotation): one match is enough.
        let good = h.split(",v1=").nth(1).unwrap();
        let two = format!("t=1000,v1={},v1={good}", "00".repeat(32));
        assert_eq!(
            verify_signature(Some(&two), body, "whsec_test", 1_000, 300),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                Some(&format!("t=1000,t=1000,v1={good}")),
                body,
                "whsec_test",
                1_000,
                300
            ),
            Err(SignatureError::Malformed)
        );
    }
}
