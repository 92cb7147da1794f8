//! Subscriptions: what a customer pays for, period by period, and the
//! service jobs their changes start (provision, suspend, unsuspend,
//! terminate), each a job in the jobs UI.

use serde::Serialize;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{invoices::Invoice, pricing, Viewer};
use crate::paging::TOTAL;
use crate::{
    audit, clock,
    error::field_error,
    jobs::{self, NewJob},
    paging::Page,
    CoreError, CoreResult, Db,
};

pub const STATUSES: [&str; 6] = [
    "pending",
    "active",
    "past_due",
    "suspended",
    "cancelled",
    "terminated",
];

/// Job kinds of a service's life; a provisioner per product type handles them.
pub const PROVISION: &str = "service.provision";
pub const SUSPEND: &str = "service.suspend";
pub const UNSUSPEND: &str = "service.unsuspend";
pub const TERMINATE: &str = "service.terminate";
pub const CHANGE: &str = "service.change";
/// Days a plan change's invoice gives to pay before dunning starts.
pub const CHANGE_DAYS_TO_PAY: i64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: String,
    pub product_id: String,
    pub product_kind: String,
    pub product_name: String,
    pub order_id: Option<String>,
    pub status: String,
    pub billing_cycle: String,
    pub currency: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub coupon_id: Option<String>,
    pub addons: serde_json::Value,
    pub starts_at: String,
    pub period_start: Option<String>,
    pub renews_at: Option<String>,
    pub periods_paid: i64,
    pub cancel_at_period_end: bool,
    pub cancelled_at: Option<String>,
    pub suspended_at: Option<String>,
    pub terminated_at: Option<String>,
    pub created_at: String,
}

impl Subscription {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "customerId": self.customer_id,
            "productId": self.product_id,
            "productType": self.product_kind,
            "productName": self.product_name,
            "orderId": self.order_id,
            "status": self.status,
            "billingCycle": self.billing_cycle,
            "quantity": self.quantity,
            "price": super::amount(self.unit_price * self.quantity, &self.currency),
            "currency": self.currency,
            "startsAt": self.starts_at,
            "renewsAt": self.renews_at,
            "cancelAtPeriodEnd": self.cancel_at_period_end,
            "cancelledAt": self.cancelled_at,
            "suspendedAt": self.suspended_at,
            "terminatedAt": self.terminated_at,
        })
    }
}

const SELECT: &str =
    "SELECT s.*, p.kind AS product_kind, p.name AS product_name FROM subscriptions s \
                      JOIN products p ON p.id = s.product_id";

fn row_to_sub(r: &sqlx::any::AnyRow) -> CoreResult<Subscription> {
    let addons: String = r.try_get("addons")?;
    Ok(Subscription {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        customer_id: r.try_get("customer_id")?,
        product_id: r.try_get("product_id")?,
        product_kind: r.try_get("product_kind")?,
        product_name: r.try_get("product_name")?,
        order_id: r.try_get("order_id")?,
        status: r.try_get("status")?,
        billing_cycle: r.try_get("billing_cycle")?,
        currency: r.try_get("currency")?,
        quantity: r.try_get("quantity")?,
        unit_price: r.try_get("unit_price")?,
        coupon_id: r.try_get("coupon_id")?,
        addons: serde_json::from_str(&addons).unwrap_or(serde_json::json!([])),
        starts_at: r.try_get("starts_at")?,
        period_start: r.try_get("period_start")?,
        renews_at: r.try_get("renews_at")?,
        periods_paid: r.try_get("periods_paid")?,
        cancel_at_period_end: crate::db::is_set(r.try_get("cancel_at_period_end")?),
        cancelled_at: r.try_get("cancelled_at")?,
        suspended_at: r.try_get("suspended_at")?,
        terminated_at: r.try_get("terminated_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) async fn load(conn: &mut AnyConnection, id: &str) -> CoreResult<Subscription> {
    let row = sqlx::query(&format!("{SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_sub(&row)
}

pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Subscription> {
    let mut conn = db.pool().acquire().await?;
    let s = load(&mut conn, id).await?;
    if s.tenant_id != v.tenant() || v.only_customer().is_some_and(|c| c != s.customer_id) {
        return Err(CoreError::NotFound);
    }
    Ok(s)
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    pub customer_id: Option<String>,
    pub status: Option<String>,
    pub product_type: Option<String>,
}

pub async fn list(
    db: &Db,
    v: &Viewer,
    f: &SubscriptionFilter,
    page: Page,
) -> CoreResult<(Vec<Subscription>, i64)> {
    let status = f.status.clone().unwrap_or_default();
    if !status.is_empty() && !STATUSES.contains(&status.as_str()) {
        return Err(field_error(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let kind = f.product_type.clone().unwrap_or_default();
    if !kind.is_empty() && !super::products::KINDS.contains(&kind.as_str()) {
        return Err(field_error(
            "productType",
            format!("must be one of {}", super::products::KINDS.join(", ")),
        ));
    }
    let customer = match (
        v.only_customer(),
        f.customer_id.as_deref().filter(|c| !c.is_empty()),
    ) {
        (Some(own), Some(asked)) if own != asked => return Ok((Vec::new(), 0)),
        (Some(own), _) => own.to_string(),
        (None, asked) => asked.unwrap_or_default().to_string(),
    };
    let cond = "s.tenant_id = $1 AND ($2 = '' OR s.customer_id = $2) AND ($3 = '' OR s.status = $3) AND ($4 = '' OR p.kind = $4)";
    let rows = sqlx::query(&format!(
        "{} WHERE {cond} ORDER BY s.created_at DESC, s.id LIMIT $5 OFFSET $6",
        SELECT.replacen(" FROM ", &format!(", {TOTAL} FROM "), 1)
    ))
    .bind(v.tenant())
    .bind(&customer)
    .bind(&status)
    .bind(&kind)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM subscriptions s JOIN products p ON p.id = s.product_id WHERE {cond}"
        ))
        .bind(v.tenant())
        .bind(&customer)
        .bind(&status)
        .bind(&kind)
        .fetch_one(db.pool())
        .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_sub).collect::<CoreResult<_>>()?,
        total,
    ))
}

/// Enqueue a service job for `s` on `conn`.
pub(crate) async fn service_job(
    db: &Db,
    conn: &mut AnyConnection,
    s: &Subscription,
    kind: &str,
) -> CoreResult<String> {
    if kind == TERMINATE {
        drop_service_work(conn, s).await?;
    }
    jobs::enqueue(
        db,
        conn,
        NewJob::new(
            &s.tenant_id,
            kind,
            serde_json::json!({
                "subscriptionId": s.id,
                "productId": s.product_id,
                "productType": s.product_kind,
                "customerId": s.customer_id,
            }),
        )
        .target("subscription", &s.id)
        .max_attempts(8),
    )
    .await
}

/// The service ends: whatever work for it is still queued (a provisioning
/// retry, a suspension) is cancelled in the same transaction, so nothing
/// brings it back after the termination.
async fn drop_service_work(conn: &mut AnyConnection, s: &Subscription) -> CoreResult<u64> {
    let now = clock::now();
    let done = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, updated_at = $1, \
         error_code = 'service_ended', error_message = 'the subscription ended before this ran' \
         WHERE tenant_id = $2 AND target_type = 'subscription' AND target_id = $3 \
         AND status = 'queued' AND kind LIKE 'service.%'",
    )
    .bind(&now)
    .bind(&s.tenant_id)
    .bind(&s.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

fn next_period(s: &Subscription, from: OffsetDateTime) -> Option<String> {
    pricing::cycle_months(&s.billing_cycle).map(|m| clock::format(pricing::add_months(from, m)))
}

/// The first payment of an order: its pending subscriptions start now and
/// their services are provisioned.
pub(crate) async fn activate_for_order(
    db: &Db,
    conn: &mut AnyConnection,
    order_id: &str,
) -> CoreResult<()> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM subscriptions WHERE order_id = $1 AND status = 'pending'",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let now_t = OffsetDateTime::now_utc();
    let now = clock::format(now_t);
    for id in ids {
        let s = load(conn, &id).await?;
        sqlx::query(
            "UPDATE subscriptions SET status = 'active', starts_at = $1, period_start = $1, renews_at = $2, \
             periods_paid = 1, updated_at = $1 WHERE tenant_id = $4 AND id = $3 AND status = 'pending'",
        )
        .bind(&now)
        .bind(next_period(&s, now_t))
        .bind(&id)
        .bind(&s.tenant_id)
        .execute(&mut *conn)
        .await?;
        service_job(db, conn, &s, PROVISION).await?;
    }
    Ok(())
}

/// A renewal invoice was paid: the subscription runs to the invoice's period
/// end, and a suspended service comes back.
pub(crate) async fn renewal_paid(
    db: &Db,
    conn: &mut AnyConnection,
    id: &str,
    inv: &Invoice,
) -> CoreResult<()> {
    let s = load(conn, id).await?;
    let now = clock::now();
    // Another invoice of this subscription still overdue (a plan change's,
    // say) keeps it where dunning put it.
    let overdue: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM invoices WHERE subscription_id = $1 AND tenant_id = $2 \
         AND status = 'unpaid' AND due_at <= $3 AND id <> $4",
    )
    .bind(id)
    .bind(&s.tenant_id)
    .bind(&now)
    .bind(&inv.id)
    .fetch_one(&mut *conn)
    .await?;
    let reactivate = overdue == 0 && matches!(s.status.as_str(), "past_due" | "suspended");
    // Only a renewal (an invoice for a period) counts as a period paid.
    let period = i64::from(inv.period_start.is_some());
    sqlx::query(
        "UPDATE subscriptions SET period_start = COALESCE($1, period_start), renews_at = COALESCE($2, renews_at), \
         periods_paid = periods_paid + $5, \
         status = CASE WHEN $6 = 1 THEN 'active' ELSE status END, \
         suspended_at = CASE WHEN $6 = 1 THEN NULL ELSE suspended_at END, \
         updated_at = $3 WHERE id = $4 AND tenant_id = $7 AND status IN ('active', 'past_due', 'suspended')",
    )
    .bind(&inv.period_start)
    .bind(&inv.period_end)
    .bind(&now)
    .bind(id)
    .bind(period)
    .bind(i64::from(reactivate))
    .bind(&s.tenant_id)
    .execute(&mut *conn)
    .await?;
    if reactivate && s.status == "suspended" {
        service_job(db, conn, &s, UNSUSPEND).await?;
    }
    Ok(())
}

/// Cancel: at the end of the paid period (default) or now (the service is
/// terminated). Customers may cancel their own.
pub async fn cancel(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    at_period_end: bool,
) -> CoreResult<Subscription> {
    let s = get(db, v, id).await?;
    if matches!(s.status.as_str(), "cancelled" | "terminated") {
        return Err(CoreError::Conflict(format!(
            "the subscription is already {}",
            s.status
        )));
    }
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    if at_period_end && s.renews_at.is_some() && s.status != "pending" {
        sqlx::query(
            "UPDATE subscriptions SET cancel_at_period_end = 1, updated_at = $1 WHERE tenant_id = $3 AND id = $2",
        )
        .bind(&now)
        .bind(&s.id)
        .bind(&s.tenant_id)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "UPDATE subscriptions SET status = 'cancelled', cancelled_at = $1, cancel_at_period_end = 0, updated_at = $1 WHERE tenant_id = $3 AND id = $2",
        )
        .bind(&now)
        .bind(&s.id)
        .bind(&s.tenant_id)
        .execute(&mut *tx)
        .await?;
        if s.status != "pending" {
            service_job(db, &mut tx, &s, TERMINATE).await?;
        }
        // Open renewal invoices of a cancelled subscription are void.
        sqlx::query(
            "UPDATE invoices SET status = 'cancelled', cancelled_at = $1, updated_at = $1 WHERE tenant_id = $3 AND subscription_id = $2 AND status = 'unpaid'",
        )
        .bind(&now)
        .bind(&s.id)
        .bind(&s.tenant_id)
        .execute(&mut *tx)
        .await?;
    }
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("subscription.cancelled")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("subscription", &s.id)
            .meta(serde_json::json!({ "atPeriodEnd": at_period_end })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, id).await
}

/// Change a subscription to another product of the same billing cycle, now.
/// The unused part of the period is credited (with the tax it carried) and
/// the rest of the period at the new price is invoiced; the customer's credit
/// pays what it can, so a downgrade leaves credit for the next invoice.
/// Returns the subscription and the invoice.
pub async fn change_plan(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    product_id: &str,
) -> CoreResult<(Subscription, super::invoices::Invoice)> {
    change_plan_at(db, v, actor, id, product_id, OffsetDateTime::now_utc()).await
}

/// [`change_plan`] as of `at` (tests choose the day).
pub async fn change_plan_at(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    product_id: &str,
    at: OffsetDateTime,
) -> CoreResult<(Subscription, super::invoices::Invoice)> {
    use super::{customers, invoices, notices, pricing::LineInput, products, tax};
    let s = get(db, v, id).await?;
    if s.status != "active" {
        return Err(CoreError::Conflict(format!(
            "only an active subscription changes plan; this one is {}",
            s.status
        )));
    }
    let (Some(start), Some(end)) = (s.period_start.clone(), s.renews_at.clone()) else {
        return Err(CoreError::Conflict(
            "a one-time purchase has no plan to change".into(),
        ));
    };
    if s.cancel_at_period_end {
        return Err(CoreError::Conflict(
            "the subscription ends at the period's end; resume it first".into(),
        ));
    }
    let new = products::get(db, v, product_id)
        .await
        .map_err(|_| field_error("productId", "no such product"))?;
    if new.id == s.product_id {
        return Err(field_error("productId", "that is the current plan"));
    }
    if new.status != "active" || new.kind == "addon" {
        return Err(field_error(
            "productId",
            format!("{} cannot be ordered", new.name),
        ));
    }
    // The service's provisioner stays the same: a CloudPod moves only to
    // another CloudPod plan (else it could no longer be suspended or ended).
    if new.kind != s.product_kind {
        return Err(field_error(
            "productId",
            format!(
                "a {} subscription moves only to another {} product; {} is a {} product",
                s.product_kind, s.product_kind, new.name, new.kind
            ),
        ));
    }
    let new_unit = new.price(&s.billing_cycle, &s.currency).ok_or_else(|| {
        field_error(
            "productId",
            format!(
                "{} is not sold {} in {}; change the cycle at renewal",
                new.name, s.billing_cycle, s.currency
            ),
        )
    })?;
    let parse =
        |t: &str| clock::parse(t).ok_or_else(|| CoreError::Internal("bad period time".into()));
    let (start_t, end_t) = (parse(&start)?, parse(&end)?);
    let (credit, charge) = pricing::prorate(
        s.unit_price * s.quantity,
        new_unit * s.quantity,
        start_t,
        end_t,
        at,
    );
    let customer = customers::get(db, v, &s.customer_id).await?;
    let now = clock::format(at);
    let mut tx = db.begin_write().await?;
    let rate = tax::rate_for_customer(&mut tx, &customer, &now).await?;
    // The credit carries the tax that was added to what was paid for it.
    let credit_total = match &rate {
        Some(r) if !r.inclusive => credit + super::money::share(credit, r.rate_ppm),
        _ => credit,
    };
    if credit_total > 0 {
        invoices::add_credit(
            &mut tx,
            &s.tenant_id,
            &s.customer_id,
            &s.currency,
            credit_total,
            &format!("unused part of {} (plan change)", s.product_name),
            None,
            &now,
        )
        .await?;
    }
    let balance = invoices::credit_balance(&mut tx, &s.customer_id, &s.currency).await?;
    let priced = pricing::price(
        &[LineInput {
            description: format!(
                "{} → {} for {} – {}",
                s.product_name,
                new.name,
                &now[..10],
                &end[..10]
            ),
            product_id: Some(new.id.clone()),
            quantity: 1,
            unit_amount: charge,
            discountable: false,
        }],
        None,
        rate.as_ref().map(|r| pricing::Tax {
            rate_ppm: r.rate_ppm,
            inclusive: r.inclusive,
        }),
        balance,
    );
    let invoice = invoices::insert(
        &mut tx,
        invoices::NewInvoice {
            tenant: &s.tenant_id,
            customer: &customer,
            order_id: None,
            // Linked, so an unpaid change is dunned like a renewal.
            subscription_id: Some(&s.id),
            currency: &s.currency,
            priced: &priced,
            tax_name: rate.as_ref().map(|r| r.name.clone()),
            period: None,
            due_at: clock::format(at + time::Duration::days(CHANGE_DAYS_TO_PAY)),
        },
    )
    .await?;
    sqlx::query(
        "UPDATE subscriptions SET product_id = $1, unit_price = $2, updated_at = $3 WHERE tenant_id = $5 AND id = $4",
    )
    .bind(&new.id)
    .bind(new_unit)
    .bind(&now)
    .bind(&s.id)
    .bind(&s.tenant_id)
    .execute(&mut *tx)
    .await?;
    let changed = load(&mut tx, &s.id).await?;
    service_job(db, &mut tx, &changed, CHANGE).await?;
    invoices::settle_if_nothing_due(db, &mut tx, &invoice, priced.amount_due).await?;
    if priced.amount_due > 0 {
        notices::enqueue(
            db,
            &mut tx,
            &s.tenant_id,
            notices::Template::InvoiceIssued,
            Some(&invoice),
            None,
            None,
        )
        .await?;
    }
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("subscription.plan_changed")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("subscription", &s.id)
            .meta(serde_json::json!({
                "from": s.product_id, "to": new.id,
                "credit": super::money::format(credit_total, &s.currency),
                "charge": super::money::format(charge, &s.currency),
                "invoiceId": invoice,
            })),
    )
    .await?;
    tx.commit().await?;
    let inv = invoices::get(db, v, &invoice).await?;
    Ok((get(db, v, id).await?, inv))
}
