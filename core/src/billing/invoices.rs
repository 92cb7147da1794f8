//! Invoices: numbered per tenant with no gaps, priced once and kept as
//! issued (with the customer's details of that day), paid, cancelled or
//! refunded through legal transitions only.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::{amount, customers::Customer, money, pricing::Priced, subscriptions, Viewer};
use crate::paging::TOTAL;
use crate::{audit, clock, error::field_error, paging::Page, CoreError, CoreResult, Db};

pub const STATUSES: [&str; 4] = ["unpaid", "paid", "cancelled", "refunded"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceItem {
    pub position: i64,
    pub product_id: Option<String>,
    pub description: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub gross: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: String,
    pub order_id: Option<String>,
    pub subscription_id: Option<String>,
    pub number: i64,
    pub status: String,
    pub currency: String,
    pub items: Vec<InvoiceItem>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub tax_rate_ppm: i64,
    pub tax_inclusive: bool,
    pub tax_name: Option<String>,
    pub total: i64,
    pub credit_applied: i64,
    pub amount_due: i64,
    pub amount_refunded: i64,
    pub bill_to: serde_json::Value,
    /// The seller as it was when issued (null on invoices from before it was kept).
    pub bill_from: serde_json::Value,
    pub charge_attempted_at: Option<String>,
    pub charge_error: Option<String>,
    pub reminded_at: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub due_at: String,
    pub paid_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub refunded_at: Option<String>,
    pub created_at: String,
}

impl Invoice {
    /// The printed number: `INV-000042`.
    pub fn display_number(&self) -> String {
        number_text(self.number)
    }

    /// The contract's shape plus the details a full invoice needs.
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.currency;
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "customerId": self.customer_id,
            "orderId": self.order_id,
            "subscriptionId": self.subscription_id,
            "number": self.display_number(),
            "status": self.status,
            "currency": c,
            "items": self.items.iter().map(|i| serde_json::json!({
                "description": i.description,
                "productId": i.product_id,
                "quantity": i.quantity,
                "unitPrice": amount(i.unit_price, c),
                "discount": amount(i.discount, c),
                "tax": amount(i.tax, c),
                "total": amount(i.total, c),
            })).collect::<Vec<_>>(),
            "subtotal": amount(self.subtotal, c),
            "discount": amount(self.discount, c),
            "tax": amount(self.tax, c),
            "taxRate": money::format_percent(self.tax_rate_ppm),
            "taxInclusive": self.tax_inclusive,
            "taxName": self.tax_name,
            "total": amount(self.total, c),
            "creditApplied": amount(self.credit_applied, c),
            "amountDue": amount(self.amount_due, c),
            "amountRefunded": amount(self.amount_refunded, c),
            "billTo": self.bill_to,
            "billFrom": self.bill_from,
            "periodStart": self.period_start,
            "periodEnd": self.period_end,
            "dueAt": self.due_at,
            "paidAt": self.paid_at,
            "chargeError": self.charge_error,
            "createdAt": self.created_at,
        })
    }

    /// The short form an order answer carries.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "status": self.status,
            "amount": amount(self.amount_due, &self.currency),
            "currency": self.currency,
        })
    }
}

/// How an invoice number is printed: `INV-000042` (one place for pages,
/// API answers, mail and PDFs).
pub fn number_text(n: i64) -> String {
    format!("INV-{n:06}")
}

fn row_to_invoice(r: &sqlx::any::AnyRow, items: Vec<InvoiceItem>) -> CoreResult<Invoice> {
    let bill_to: String = r.try_get("bill_to")?;
    Ok(Invoice {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        customer_id: r.try_get("customer_id")?,
        order_id: r.try_get("order_id")?,
        subscription_id: r.try_get("subscription_id")?,
        number: r.try_get("number")?,
        status: r.try_get("status")?,
        currency: r.try_get("currency")?,
        items,
        subtotal: r.try_get("subtotal")?,
        discount: r.try_get("discount")?,
        tax: r.try_get("tax")?,
        tax_rate_ppm: r.try_get("tax_rate_ppm")?,
        tax_inclusive: crate::db::is_set(r.try_get("tax_inclusive")?),
        tax_name: r.try_get("tax_name")?,
        total: r.try_get("total")?,
        credit_applied: r.try_get("credit_applied")?,
        amount_due: r.try_get("amount_due")?,
        amount_refunded: r.try_get("amount_refunded")?,
        bill_to: serde_json::from_str(&bill_to).unwrap_or(serde_json::Value::Null),
        bill_from: r
            .try_get::<Option<String>, _>("bill_from")?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null),
        charge_attempted_at: r.try_get("charge_attempted_at")?,
        charge_error: r.try_get("charge_error")?,
        reminded_at: r.try_get("reminded_at")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        due_at: r.try_get("due_at")?,
        paid_at: r.try_get("paid_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        refunded_at: r.try_get("refunded_at")?,
        created_at: r.try_get("created_at")?,
    })
}

async fn load_items(conn: &mut AnyConnection, id: &str) -> CoreResult<Vec<InvoiceItem>> {
    let rows = sqlx::query("SELECT * FROM invoice_items WHERE invoice_id = $1 ORDER BY position")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(InvoiceItem {
                position: r.try_get("position")?,
                product_id: r.try_get("product_id")?,
                description: r.try_get("description")?,
                quantity: r.try_get("quantity")?,
                unit_price: r.try_get("unit_price")?,
                gross: r.try_get("gross")?,
                discount: r.try_get("discount")?,
                tax: r.try_get("tax")?,
                total: r.try_get("total")?,
            })
        })
        .collect()
}

/// An invoice by id on a connection (no authorization).
pub(crate) async fn load(conn: &mut AnyConnection, id: &str) -> CoreResult<Invoice> {
    let row = sqlx::query("SELECT * FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let items = load_items(conn, id).await?;
    row_to_invoice(&row, items)
}

/// One invoice the viewer may see.
pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Invoice> {
    let mut conn = db.pool().acquire().await?;
    let inv = load(&mut conn, id).await?;
    if inv.tenant_id != v.tenant() || v.only_customer().is_some_and(|c| c != inv.customer_id) {
        return Err(CoreError::NotFound);
    }
    Ok(inv)
}

/// Invoices of the viewer's tenant (a customer login: its own), newest first.
pub async fn list(
    db: &Db,
    v: &Viewer,
    customer_id: Option<&str>,
    status: Option<&str>,
    page: Page,
) -> CoreResult<(Vec<Invoice>, i64)> {
    let status = status.unwrap_or_default();
    if !status.is_empty() && !STATUSES.contains(&status) {
        return Err(field_error(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let customer = match (v.only_customer(), customer_id.filter(|c| !c.is_empty())) {
        (Some(own), Some(asked)) if own != asked => return Ok((Vec::new(), 0)),
        (Some(own), _) => own.to_string(),
        (None, asked) => asked.unwrap_or_default().to_string(),
    };
    let cond = "tenant_id = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR status = $3)";
    let rows = sqlx::query(&format!(
        "SELECT id, {TOTAL} FROM invoices WHERE {cond} ORDER BY number DESC LIMIT $4 OFFSET $5"
    ))
    .bind(v.tenant())
    .bind(&customer)
    .bind(status)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM invoices WHERE {cond}"))
            .bind(v.tenant())
            .bind(&customer)
            .bind(status)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    let ids = rows
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut conn = db.pool().acquire().await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        items.push(load(&mut conn, &id).await?);
    }
    Ok((items, total))
}

/// What a new invoice is for.
pub(crate) struct NewInvoice<'a> {
    pub tenant: &'a str,
    pub customer: &'a Customer,
    pub order_id: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    pub currency: &'a str,
    pub priced: &'a Priced,
    pub tax_name: Option<String>,
    pub period: Option<(String, String)>,
    pub due_at: String,
}

/// The next invoice number of `tenant`, taken on the caller's transaction:
/// the counter row is locked until it commits, and a rollback gives the
/// number back, so numbers have no gaps even under concurrent orders.
async fn next_number(conn: &mut AnyConnection, tenant: &str) -> CoreResult<i64> {
    sqlx::query("INSERT INTO invoice_counters (tenant_id, next_number) VALUES ($1, 1) ON CONFLICT (tenant_id) DO NOTHING")
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
    let n: i64 = sqlx::query_scalar(
        "UPDATE invoice_counters SET next_number = next_number + 1 WHERE tenant_id = $1 RETURNING next_number - 1",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// Write an invoice and its lines; spends the credit it applies.
pub(crate) async fn insert(conn: &mut AnyConnection, n: NewInvoice<'_>) -> CoreResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let number = next_number(conn, n.tenant).await?;
    let now = clock::now();
    let c = n.customer;
    let bill_to = serde_json::json!({
        "name": c.name, "email": c.email, "address": c.address, "taxId": c.tax_id,
    });
    let bill_from = serde_json::to_string(&super::profile::load(conn, n.tenant).await?)
        .map_err(|e| CoreError::Internal(format!("billing profile: {e}")))?;
    let p = n.priced;
    sqlx::query(
        "INSERT INTO invoices (id, tenant_id, customer_id, order_id, subscription_id, number, status, currency, \
         subtotal, discount, tax, tax_rate_ppm, tax_inclusive, tax_name, total, credit_applied, amount_due, bill_to, \
         period_start, period_end, due_at, created_at, updated_at, bill_from) \
         VALUES ($1, $2, $3, $4, $5, $6, 'unpaid', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21, $22)",
    )
    .bind(&id)
    .bind(n.tenant)
    .bind(&c.id)
    .bind(n.order_id)
    .bind(n.subscription_id)
    .bind(number)
    .bind(n.currency)
    .bind(p.subtotal)
    .bind(p.discount)
    .bind(p.tax)
    .bind(p.tax_rate_ppm)
    .bind(crate::db::flag(p.tax_inclusive))
    .bind(n.tax_name)
    .bind(p.total)
    .bind(p.credit_applied)
    .bind(p.amount_due)
    .bind(bill_to.to_string())
    .bind(n.period.as_ref().map(|p| p.0.clone()))
    .bind(n.period.as_ref().map(|p| p.1.clone()))
    .bind(&n.due_at)
    .bind(&now)
    .bind(bill_from)
    .execute(&mut *conn)
    .await?;
    for (i, l) in p.lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO invoice_items (invoice_id, position, product_id, description, quantity, unit_price, gross, \
             discount, tax, total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(i as i64 + 1)
        .bind(&l.product_id)
        .bind(&l.description)
        .bind(l.quantity)
        .bind(l.unit_amount)
        .bind(l.gross)
        .bind(l.discount)
        .bind(l.tax)
        .bind(l.total)
        .execute(&mut *conn)
        .await?;
    }
    if p.credit_applied > 0 {
        add_credit(
            &mut *conn,
            n.tenant,
            &c.id,
            n.currency,
            -p.credit_applied,
            "applied to an invoice",
            Some(&id),
            &now,
        )
        .await?;
    }
    Ok(id)
}

/// The printed lines of a party (`billTo`, `billFrom`): name, address,
/// email, tax id; empty lines dropped.
pub fn party_lines(b: &serde_json::Value, name_key: &str) -> Vec<String> {
    let mut lines = vec![b[name_key].as_str().unwrap_or_default().to_string()];
    if let Some(a) = b["address"].as_object() {
        for k in ["line1", "line2"] {
            if let Some(v) = a.get(k).and_then(|v| v.as_str()) {
                lines.push(v.to_string());
            }
        }
        let city = [a.get("postalCode"), a.get("city"), a.get("state")]
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(city);
        if let Some(c) = a.get("country").and_then(|v| v.as_str()) {
            lines.push(c.to_string());
        }
    }
    lines.push(b["email"].as_str().unwrap_or_default().to_string());
    if let Some(t) = b["taxId"].as_str() {
        lines.push(format!("Tax id {t}"));
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// A customer's credit balance in `currency`.
pub async fn credit_balance(
    conn: &mut AnyConnection,
    customer: &str,
    currency: &str,
) -> CoreResult<i64> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(amount) AS BIGINT) FROM credit_entries WHERE customer_id = $1 AND currency = $2",
    )
    .bind(customer)
    .bind(currency)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n.unwrap_or(0).max(0))
}

/// Add a credit entry (positive: credit given; negative: credit spent).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn add_credit(
    conn: &mut AnyConnection,
    tenant: &str,
    customer: &str,
    currency: &str,
    amount: i64,
    reason: &str,
    invoice: Option<&str>,
    now: &str,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO credit_entries (id, tenant_id, customer_id, currency, amount, reason, invoice_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(tenant)
    .bind(customer)
    .bind(currency)
    .bind(amount)
    .bind(reason)
    .bind(invoice)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An invoice with nothing left to pay (coupon or credit covered it) is
/// paid at once, with its effects.
pub(crate) async fn settle_if_nothing_due(
    db: &Db,
    conn: &mut AnyConnection,
    invoice_id: &str,
    amount_due: i64,
) -> CoreResult<()> {
    if amount_due == 0 {
        let reference = format!("credit-{invoice_id}");
        apply_payment(
            db,
            conn,
            invoice_id,
            Payment {
                provider: "credit",
                reference: &reference,
                amount: 0,
            },
        )
        .await?;
    }
    Ok(())
}

/// How a payment arrived.
pub(crate) struct Payment<'a> {
    pub provider: &'a str,
    pub reference: &'a str,
    pub amount: i64,
}

/// Record a payment of an invoice and apply its effects on `conn` (the
/// caller's transaction): the invoice is paid, its order paid, its
/// subscriptions activated or renewed (with their provisioning or unsuspend
/// jobs). Returns `false`, changing nothing, when this payment was recorded
/// before or the invoice is not unpaid: a payment never applies twice.
pub(crate) async fn apply_payment(
    db: &Db,
    conn: &mut AnyConnection,
    invoice_id: &str,
    pay: Payment<'_>,
) -> CoreResult<bool> {
    let inv = load(conn, invoice_id).await?;
    let now = clock::now();
    let recorded = sqlx::query(
        "INSERT INTO payments (id, tenant_id, invoice_id, provider, provider_ref, amount, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, provider_ref) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&inv.tenant_id)
    .bind(&inv.id)
    .bind(pay.provider)
    .bind(pay.reference)
    .bind(pay.amount)
    .bind(&inv.currency)
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    if recorded.rows_affected() == 0 {
        return Ok(false);
    }
    let paid = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = $1, updated_at = $1 WHERE tenant_id = $3 AND id = $2 AND status = 'unpaid'",
    )
    .bind(&now)
    .bind(&inv.id)
    .bind(&inv.tenant_id)
    .execute(&mut *conn)
    .await?;
    if paid.rows_affected() == 0 {
        // Paid twice (another provider, or after a cancel): keep the money as credit.
        add_credit(
            &mut *conn,
            &inv.tenant_id,
            &inv.customer_id,
            &inv.currency,
            pay.amount,
            "payment for an invoice that was not open",
            Some(&inv.id),
            &now,
        )
        .await?;
        return Ok(true);
    }
    if pay.amount > 0 {
        super::notices::enqueue(
            db,
            conn,
            &inv.tenant_id,
            super::notices::Template::PaymentReceived,
            Some(&inv.id),
            None,
            None,
        )
        .await?;
    }
    if let Some(order) = &inv.order_id {
        sqlx::query("UPDATE orders SET status = 'paid', updated_at = $1 WHERE tenant_id = $3 AND id = $2 AND status = 'pending'")
            .bind(&now)
            .bind(order)
            .bind(&inv.tenant_id)
            .execute(&mut *conn)
            .await?;
        subscriptions::activate_for_order(db, conn, order).await?;
    }
    if let Some(sub) = &inv.subscription_id {
        subscriptions::renewal_paid(db, conn, sub, &inv).await?;
    }
    Ok(true)
}

/// Refund a paid invoice (operators): with Stripe configured, what was paid
/// through Stripe is refunded there first (each payment's unrefunded part);
/// then the invoice is marked refunded (other payments are recorded as
/// refunded: the operator returns that money by hand).
pub async fn refund(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    stripe: Option<&super::stripe::StripeConfig>,
) -> CoreResult<Invoice> {
    v.require_operator("only operators refund invoices")?;
    let inv = get(db, v, id).await?;
    if let (Some(cfg), "paid") = (stripe, inv.status.as_str()) {
        let open: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, amount - amount_refunded FROM payments WHERE invoice_id = $1 AND provider = 'stripe' \
             AND amount > amount_refunded ORDER BY created_at",
        )
        .bind(&inv.id)
        .fetch_all(db.pool())
        .await?;
        for (payment, left) in open {
            super::stripe::refund_payment(cfg, db, &payment, left).await?;
        }
        let now = get(db, v, id).await?;
        if now.status == "refunded" {
            audit::record(
                db,
                audit::NewEvent::new("invoice.refunded")
                    .tenant(v.tenant())
                    .actor(Some(actor.to_string()))
                    .resource("invoice", &inv.id)
                    .meta(serde_json::json!({ "from": inv.status, "number": inv.display_number(), "provider": "stripe" })),
            )
            .await?;
            return Ok(now);
        }
    }
    set_status(db, v, actor, id, "refunded").await
}

/// `PATCH /invoices/:id/status` (operators): unpaid → paid (recorded as a
/// manual payment), unpaid → cancelled (credit used is given back),
/// paid → refunded (the payments are marked refunded). Anything else is a
/// conflict naming the legal moves.
pub async fn set_status(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    status: &str,
) -> CoreResult<Invoice> {
    v.require_operator("only operators change invoice status")?;
    if !STATUSES.contains(&status) {
        return Err(field_error(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let inv = get(db, v, id).await?;
    let illegal = || {
        CoreError::Conflict(format!(
            "an invoice that is {} cannot become {status} (unpaid → paid or cancelled; paid → refunded)",
            inv.status
        ))
    };
    let mut tx = db.begin_write().await?;
    let now = clock::now();
    match (inv.status.as_str(), status) {
        ("unpaid", "paid") => {
            let reference = format!("manual-{}", inv.id);
            apply_payment(
                db,
                &mut tx,
                &inv.id,
                Payment {
                    provider: "manual",
                    reference: &reference,
                    amount: inv.amount_due,
                },
            )
            .await?;
        }
        ("unpaid", "cancelled") => {
            let done = sqlx::query(
                "UPDATE invoices SET status = 'cancelled', cancelled_at = $1, updated_at = $1 WHERE tenant_id = $3 AND id = $2 AND status = 'unpaid'",
            )
            .bind(&now)
            .bind(&inv.id)
            .bind(&inv.tenant_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(illegal());
            }
            if inv.credit_applied > 0 {
                add_credit(
                    &mut tx,
                    &inv.tenant_id,
                    &inv.customer_id,
                    &inv.currency,
                    inv.credit_applied,
                    "invoice cancelled",
                    Some(&inv.id),
                    &now,
                )
                .await?;
            }
            if let Some(order) = &inv.order_id {
                sqlx::query("UPDATE orders SET status = 'cancelled', updated_at = $1 WHERE tenant_id = $3 AND id = $2 AND status = 'pending'")
                    .bind(&now)
                    .bind(order)
                    .bind(&inv.tenant_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE subscriptions SET status = 'cancelled', cancelled_at = $1, updated_at = $1 \
                     WHERE tenant_id = $3 AND order_id = $2 AND status = 'pending'",
                )
                .bind(&now)
                .bind(order)
                .bind(&inv.tenant_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        ("paid", "refunded") => {
            let done = sqlx::query(
                "UPDATE invoices SET status = 'refunded', refunded_at = $1, amount_refunded = total - credit_applied, \
                 updated_at = $1 WHERE tenant_id = $3 AND id = $2 AND status = 'paid'",
            )
            .bind(&now)
            .bind(&inv.id)
            .bind(&inv.tenant_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(illegal());
            }
            sqlx::query("UPDATE payments SET amount_refunded = amount WHERE tenant_id = $2 AND invoice_id = $1")
                .bind(&inv.id)
                .bind(&inv.tenant_id)
                .execute(&mut *tx)
                .await?;
        }
        _ => return Err(illegal()),
    }
    audit::record_in(
        &mut tx,
        audit::NewEvent::new(format!("invoice.{status}"))
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("invoice", &inv.id)
            .meta(serde_json::json!({ "from": inv.status, "number": inv.display_number() })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, id).await
}
