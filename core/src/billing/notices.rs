//! Billing email: order confirmations, invoices, payments received and
//! failed, overdue reminders, suspensions. A notice is a `billing.notify`
//! job enqueued in the transaction of the change it reports (so a notice is
//! never sent for a change that rolled back, nor lost for one that
//! committed); the worker renders it (plain text, and a simple HTML part)
//! and sends it through the configured mailer.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::{invoices, money, subscriptions};
use crate::{
    jobs::{self, JobContext, JobError, JobHandler, NewJob},
    mail::{Mail, Mailer},
    CoreError, CoreResult, Db,
};

pub const KIND: &str = "billing.notify";

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    OrderConfirmation,
    InvoiceIssued,
    InvoiceReminder,
    PaymentReceived,
    PaymentFailed,
    InvoiceOverdue,
    ServiceSuspended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    template: Template,
    invoice_id: Option<String>,
    subscription_id: Option<String>,
    reason: Option<String>,
}

/// Enqueue a notice about an invoice (and/or a subscription) on `conn`.
pub(crate) async fn enqueue(
    db: &Db,
    conn: &mut AnyConnection,
    tenant: &str,
    template: Template,
    invoice_id: Option<&str>,
    subscription_id: Option<&str>,
    reason: Option<String>,
) -> CoreResult<()> {
    let payload = Payload {
        template,
        invoice_id: invoice_id.map(str::to_string),
        subscription_id: subscription_id.map(str::to_string),
        reason,
    };
    let payload = serde_json::to_value(&payload)
        .map_err(|e| CoreError::Internal(format!("notice payload: {e}")))?;
    jobs::enqueue(
        db,
        conn,
        NewJob::new(tenant, KIND, payload).max_attempts(10),
    )
    .await?;
    Ok(())
}

/// Sends the notices.
pub struct Notifier {
    pub mailer: Arc<Mailer>,
    /// Where customers reach the portal (links in the mail).
    pub portal_url: String,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rendered notice.
pub struct Rendered {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Render a notice from the database as it is now.
pub async fn render(
    db: &Db,
    portal_url: &str,
    payload: &serde_json::Value,
) -> CoreResult<Rendered> {
    let p: Payload = serde_json::from_value(payload.clone())
        .map_err(|e| CoreError::Invalid(format!("notice payload: {e}")))?;
    let mut conn = db.pool().acquire().await?;
    let inv = match &p.invoice_id {
        Some(id) => Some(invoices::load(&mut conn, id).await?),
        None => None,
    };
    let sub = match &p.subscription_id {
        Some(id) => Some(subscriptions::load(&mut conn, id).await?),
        None => None,
    };
    let customer_id = inv
        .as_ref()
        .map(|i| i.customer_id.clone())
        .or_else(|| sub.as_ref().map(|s| s.customer_id.clone()))
        .ok_or_else(|| {
            CoreError::Invalid("a notice is about an invoice or a subscription".into())
        })?;
    let tenant_id = inv
        .as_ref()
        .map(|i| i.tenant_id.clone())
        .or_else(|| sub.as_ref().map(|s| s.tenant_id.clone()))
        .unwrap_or_default();
    drop(conn);
    let v = super::Viewer::Operator {
        tenant: tenant_id.clone(),
        admin: true,
    };
    let customer = super::customers::get(db, &v, &customer_id).await?;
    let seller = {
        let mut conn = db.pool().acquire().await?;
        super::profile::load(&mut conn, &tenant_id)
            .await?
            .legal_name
    };
    let base = portal_url.trim_end_matches('/');
    let amount = |i: &invoices::Invoice, minor: i64| money::with_code(minor, &i.currency);
    let mut lines = vec![format!("Hello {},", customer.name), String::new()];
    let subject = match (p.template, &inv, &sub) {
        (Template::OrderConfirmation, Some(i), _) => {
            lines.push(format!(
                "thank you for your order. Invoice {} is attached below.",
                i.display_number()
            ));
            lines.push(String::new());
            for item in &i.items {
                lines.push(format!(
                    "  {} × {}  {}",
                    item.quantity,
                    item.description,
                    amount(i, item.total)
                ));
            }
            lines.push(format!("  Total  {}", amount(i, i.total)));
            if i.status == "unpaid" {
                lines.push(String::new());
                lines.push(format!(
                    "Amount due: {}. Pay it here: {base}/portal/invoices/{}",
                    amount(i, i.amount_due),
                    i.id
                ));
            }
            format!("Order confirmed: invoice {}", i.display_number())
        }
        (Template::InvoiceIssued, Some(i), _) => {
            lines.push(format!(
                "invoice {} for {} is ready.",
                i.display_number(),
                amount(i, i.total)
            ));
            if let (Some(s), Some(e)) = (&i.period_start, &i.period_end) {
                lines.push(format!("It covers {} to {}.", &s[..10], &e[..10]));
            }
            lines.push(format!(
                "It is due on {}: {base}/portal/invoices/{}",
                &i.due_at[..10],
                i.id
            ));
            format!(
                "Invoice {} ({})",
                i.display_number(),
                amount(i, i.amount_due)
            )
        }
        (Template::InvoiceReminder, Some(i), _) => {
            lines.push(format!(
                "a reminder: invoice {} ({}) is due on {}.",
                i.display_number(),
                amount(i, i.amount_due),
                &i.due_at[..10]
            ));
            lines.push(format!("Pay it here: {base}/portal/invoices/{}", i.id));
            lines.push(
                "If a card is saved for this service, it is charged on the due date; nothing to do."
                    .into(),
            );
            format!(
                "Reminder: invoice {} is due on {}",
                i.display_number(),
                &i.due_at[..10]
            )
        }
        (Template::PaymentReceived, Some(i), _) => {
            lines.push(format!(
                "we received your payment of {} for invoice {}. Thank you.",
                amount(i, i.amount_due),
                i.display_number()
            ));
            format!("Payment received: invoice {}", i.display_number())
        }
        (Template::PaymentFailed, Some(i), _) => {
            lines.push(format!(
                "your payment for invoice {} did not go through: {}.",
                i.display_number(),
                p.reason.clone().unwrap_or_else(|| "declined".into())
            ));
            lines.push(format!(
                "Please pay it here: {base}/portal/invoices/{}",
                i.id
            ));
            format!("Payment failed: invoice {}", i.display_number())
        }
        (Template::InvoiceOverdue, Some(i), s) => {
            lines.push(format!(
                "invoice {} ({}) was due on {} and is not paid yet.",
                i.display_number(),
                amount(i, i.amount_due),
                &i.due_at[..10]
            ));
            if let Some(s) = s {
                lines.push(format!(
                    "{} will be suspended if it stays unpaid.",
                    s.product_name
                ));
            }
            lines.push(format!("Pay it here: {base}/portal/invoices/{}", i.id));
            format!("Overdue: invoice {}", i.display_number())
        }
        (Template::ServiceSuspended, _, Some(s)) => {
            lines.push(format!("{} is suspended because an invoice is unpaid. Paying it brings the service back at once.", s.product_name));
            lines.push(format!("Your invoices: {base}/portal/invoices"));
            format!("{} suspended", s.product_name)
        }
        _ => {
            return Err(CoreError::Invalid(
                "the notice lacks what it is about".into(),
            ))
        }
    };
    lines.push(String::new());
    lines.push(format!("— {seller}"));
    Ok(Rendered {
        to: customer.email,
        subject,
        text: lines.join("\n"),
    })
}

#[async_trait]
impl JobHandler for Notifier {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let payload: serde_json::Value = ctx.payload()?;
        let r = render(ctx.db(), &self.portal_url, &payload).await?;
        let html = format!(
            "<div style=\"font-family: system-ui, sans-serif; line-height: 1.5\"><pre style=\"font-family: inherit; white-space: pre-wrap\">{}</pre></div>",
            html_escape(&r.text)
        );
        ctx.step("send", || async {
            self.mailer
                .send(Mail {
                    to: r.to.clone(),
                    subject: r.subject.clone(),
                    text: r.text.clone(),
                    html: Some(html.clone()),
                })
                .await
                .map_err(|e| JobError::transient("mail_failed", e.to_string()))
        })
        .await?;
        ctx.log("stdout", format!("sent \"{}\" to {}", r.subject, r.to))
            .await?;
        Ok(())
    }
}
