//! Paying an invoice: a checkout session with the tenant's payment provider.
//! Without Stripe configured the provider is `manual`: the checkout URL is
//! the invoice's page in the customer portal with bank-transfer
//! instructions, and an operator marks the invoice paid when the money
//! arrives.

use super::{invoices, Viewer};
use crate::{clock, error::field_error, CoreError, CoreResult, Db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub provider: String,
    pub session_id: String,
    pub checkout_url: String,
}

fn check_url(field: &str, u: &str) -> CoreResult<()> {
    match url::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(()),
        _ => Err(field_error(field, "must be an absolute http(s) URL")),
    }
}

/// Start paying `invoice_id`. Each call is a new attempt (numbered, kept).
pub async fn create_session(
    db: &Db,
    v: &Viewer,
    invoice_id: &str,
    success_url: &str,
    cancel_url: &str,
    portal_base: &str,
    stripe: Option<&super::stripe::StripeConfig>,
) -> CoreResult<Session> {
    check_url("successUrl", success_url)?;
    check_url("cancelUrl", cancel_url)?;
    let inv = invoices::get(db, v, invoice_id)
        .await
        .map_err(|e| match e {
            CoreError::NotFound => field_error("invoiceId", "no such invoice"),
            other => other,
        })?;
    if inv.status != "unpaid" {
        return Err(CoreError::Conflict(format!(
            "the invoice is {}; nothing to pay",
            inv.status
        )));
    }
    // No transaction is held across the call to Stripe: the attempt number
    // makes the idempotency key, so a concurrent request for the same
    // attempt gets the same session back from Stripe.
    let attempt: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payment_sessions WHERE invoice_id = $1")
            .bind(&inv.id)
            .fetch_one(db.pool())
            .await?;
    let session = match stripe {
        Some(cfg) => {
            let (email, stripe_customer): (String, Option<String>) =
                sqlx::query_as("SELECT email, stripe_customer_id FROM customers WHERE id = $1")
                    .bind(&inv.customer_id)
                    .fetch_one(db.pool())
                    .await?;
            let (id, url) = super::stripe::checkout_session(
                cfg,
                &inv,
                &email,
                stripe_customer.as_deref(),
                attempt + 1,
                success_url,
                cancel_url,
            )
            .await?;
            Session {
                provider: "stripe".into(),
                session_id: id,
                checkout_url: url,
            }
        }
        None => Session {
            provider: "manual".into(),
            session_id: format!("manual_{}", uuid::Uuid::new_v4().simple()),
            checkout_url: format!(
                "{}/portal/invoices/{}",
                portal_base.trim_end_matches('/'),
                inv.id
            ),
        },
    };
    sqlx::query(
        "INSERT INTO payment_sessions (id, tenant_id, invoice_id, provider, session_id, checkout_url, attempt, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (invoice_id, attempt) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&inv.tenant_id)
    .bind(&inv.id)
    .bind(&session.provider)
    .bind(&session.session_id)
    .bind(&session.checkout_url)
    .bind(attempt + 1)
    .bind(clock::now())
    .execute(db.pool())
    .await?;
    Ok(session)
}
