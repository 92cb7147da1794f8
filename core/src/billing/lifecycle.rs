//! The life of a subscription as jobs: service jobs (provision, suspend,
//! unsuspend, terminate) dispatched to a provisioner per product type, and
//! the scheduled `billing.renewals` sweep (renewal invoices, cancellations at
//! period end, dunning: past due → suspended → terminated).

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::{
    customers, invoices,
    pricing::{self, LineInput},
    subscriptions::{self, Subscription},
    tax,
};
use crate::{
    clock, events,
    jobs::{JobContext, JobError, JobHandler},
    CoreError, CoreResult, Db,
};

/// What provisions, suspends and ends one product type's services.
#[async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// `kind` is one of the `service.*` job kinds.
    async fn run(&self, ctx: &JobContext, kind: &str, sub: &Subscription) -> Result<(), JobError>;

    /// A `service.*` job for `sub` failed for good (see [`JobHandler::failed`]).
    async fn failed(&self, _ctx: &JobContext, _sub: &Subscription, _message: &str) {}
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicePayload {
    subscription_id: String,
    product_type: String,
}

/// Handles the `service.*` jobs by product type.
#[derive(Default, Clone)]
pub struct ServiceJobs {
    provisioners: HashMap<String, Arc<dyn Provisioner>>,
}

impl ServiceJobs {
    pub fn new() -> ServiceJobs {
        ServiceJobs::default()
    }

    pub fn with(mut self, product_type: &str, p: impl Provisioner) -> Self {
        self.provisioners.insert(product_type.into(), Arc::new(p));
        self
    }
}

#[async_trait]
impl JobHandler for ServiceJobs {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let p: ServicePayload = ctx.payload()?;
        let Some(provisioner) = self.provisioners.get(&p.product_type) else {
            return Err(JobError::permanent(
                "provisioner_unavailable",
                format!(
                    "this build has no provisioner for {} products yet; retry the job once one is installed",
                    p.product_type
                ),
            ));
        };
        let mut conn = ctx.db().pool().acquire().await.map_err(CoreError::from)?;
        let sub = subscriptions::load(&mut conn, &p.subscription_id).await?;
        drop(conn);
        // A service that ended gets no more work but its termination,
        // whatever was queued before it ended.
        if matches!(sub.status.as_str(), "cancelled" | "terminated")
            && ctx.job.kind != subscriptions::TERMINATE
        {
            ctx.log(
                "stdout",
                format!(
                    "the subscription is {}; {} is not done",
                    sub.status, ctx.job.kind
                ),
            )
            .await?;
            return Ok(());
        }
        provisioner.run(ctx, &ctx.job.kind, &sub).await
    }

    async fn failed(&self, ctx: &JobContext, _code: &str, message: &str) {
        let Ok(p) = ctx.payload::<ServicePayload>() else {
            return;
        };
        let Some(provisioner) = self.provisioners.get(&p.product_type) else {
            return;
        };
        let Ok(mut conn) = ctx.db().pool().acquire().await else {
            return;
        };
        let Ok(sub) = subscriptions::load(&mut conn, &p.subscription_id).await else {
            return;
        };
        drop(conn);
        provisioner.failed(ctx, &sub, message).await;
    }
}

/// Dunning and renewal timing.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Issue a renewal invoice this many days before the period ends.
    pub renewal_lead_days: i64,
    /// Suspend this many days after an unpaid renewal fell due.
    pub suspend_after_days: i64,
    /// Terminate this many days after it fell due.
    pub terminate_after_days: i64,
    /// Remind this many days before an unpaid invoice falls due (0: never).
    pub reminder_days: i64,
    /// Charge saved cards when a renewal falls due (Stripe is configured).
    pub auto_charge: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            renewal_lead_days: 7,
            suspend_after_days: 3,
            terminate_after_days: 30,
            reminder_days: 3,
            auto_charge: false,
        }
    }
}

pub const RENEWALS: &str = "billing.renewals";

/// The `billing.renewals` job.
pub struct Renewals {
    pub policy: Policy,
}

#[async_trait]
impl JobHandler for Renewals {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let report = sweep(ctx.db(), self.policy, OffsetDateTime::now_utc()).await?;
        ctx.log(
            "stdout",
            format!(
                "{} renewal invoice(s), {} card charge(s) started, {} reminder(s), {} cancelled at period end, {} past due, {} suspended, {} terminated",
                report.invoiced, report.charging, report.reminded, report.ended, report.past_due, report.suspended, report.terminated
            ),
        )
        .await?;
        Ok(())
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub invoiced: usize,
    /// `billing.charge` jobs enqueued for saved cards.
    pub charging: usize,
    pub reminded: usize,
    pub ended: usize,
    pub past_due: usize,
    pub suspended: usize,
    pub terminated: usize,
}

/// One pass over every tenant's subscriptions at `now`. Every step is
/// guarded by the state it moves from, so running it twice (or in two
/// processes) does each thing once.
pub async fn sweep(db: &Db, policy: Policy, now: OffsetDateTime) -> CoreResult<SweepReport> {
    let mut r = SweepReport::default();
    let now_s = clock::format(now);
    // 1. Renewal invoices for periods about to start.
    let horizon = clock::format(now + Duration::days(policy.renewal_lead_days));
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT s.id FROM subscriptions s WHERE s.status IN ('active', 'past_due') AND s.cancel_at_period_end = 0 \
         AND s.renews_at IS NOT NULL AND s.renews_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.period_start = s.renews_at)",
    )
    .bind(&horizon)
    .fetch_all(db.pool())
    .await?;
    for id in due {
        match renewal_invoice(db, &id, now).await {
            Ok(true) => r.invoiced += 1,
            Ok(false) => {}
            Err(e) if e.is_unique_violation() => {}
            Err(e) => return Err(e),
        }
    }
    // 2. Cancellations that take effect at the period's end.
    let ending: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM subscriptions WHERE cancel_at_period_end = 1 AND status IN ('active', 'past_due', 'suspended') \
         AND renews_at <= $1",
    )
    .bind(&now_s)
    .fetch_all(db.pool())
    .await?;
    for id in ending {
        if transition(
            db,
            &id,
            &["active", "past_due", "suspended"],
            "cancelled",
            Some(subscriptions::TERMINATE),
            &now_s,
        )
        .await?
        {
            r.ended += 1;
        }
    }
    // 3. Saved cards are charged when their invoice falls due.
    if policy.auto_charge {
        let chargeable: Vec<String> = sqlx::query_scalar(
            "SELECT i.id FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id \
             JOIN customers c ON c.id = i.customer_id \
             WHERE i.status = 'unpaid' AND i.amount_due > 0 AND i.charge_attempted_at IS NULL AND i.due_at <= $1 \
             AND s.payment_method_id IS NOT NULL AND c.stripe_customer_id IS NOT NULL",
        )
        .bind(&now_s)
        .fetch_all(db.pool())
        .await?;
        for id in chargeable {
            if start_charge(db, &id, &now_s).await? {
                r.charging += 1;
            }
        }
    }
    // 4. Reminders before the due date, once per invoice, not on the day it
    // was issued (its "invoice issued" mail just went out).
    if policy.reminder_days > 0 {
        let soon: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, tenant_id FROM invoices WHERE status = 'unpaid' AND amount_due > 0 AND reminded_at IS NULL \
             AND due_at > $1 AND due_at <= $2 AND created_at <= $3",
        )
        .bind(&now_s)
        .bind(clock::format(now + Duration::days(policy.reminder_days)))
        .bind(clock::format(now - Duration::days(1)))
        .fetch_all(db.pool())
        .await?;
        for (id, tenant) in soon {
            let mut tx = db.begin_write().await?;
            let marked = sqlx::query(
                "UPDATE invoices SET reminded_at = $1 WHERE id = $2 AND reminded_at IS NULL AND status = 'unpaid'",
            )
            .bind(&now_s)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() == 1 {
                super::notices::enqueue(
                    db,
                    &mut tx,
                    &tenant,
                    super::notices::Template::InvoiceReminder,
                    Some(&id),
                    None,
                    None,
                )
                .await?;
                r.reminded += 1;
            }
            tx.commit().await?;
        }
    }
    // 5. Dunning, by how long the oldest unpaid renewal has been due. An
    // invoice whose card charge is under way (started within a day, no
    // error yet) waits for its outcome.
    let overdue = sqlx::query(
        "SELECT s.id, MIN(i.due_at) AS due FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id \
         WHERE i.status = 'unpaid' AND i.due_at < $1 AND s.status IN ('active', 'past_due', 'suspended') \
         AND NOT (i.charge_attempted_at IS NOT NULL AND i.charge_error IS NULL AND i.charge_attempted_at > $2) \
         GROUP BY s.id",
    )
    .bind(&now_s)
    .bind(clock::format(now - Duration::days(1)))
    .fetch_all(db.pool())
    .await?;
    for row in overdue {
        let id: String = row.try_get("id")?;
        let due: String = row.try_get("due")?;
        let due_t = clock::parse(&due).unwrap_or(now);
        let days = (now - due_t).whole_days();
        if days >= policy.terminate_after_days {
            if transition(
                db,
                &id,
                &["active", "past_due", "suspended"],
                "terminated",
                Some(subscriptions::TERMINATE),
                &now_s,
            )
            .await?
            {
                sqlx::query(
                    "UPDATE invoices SET status = 'cancelled', cancelled_at = $1, updated_at = $1 WHERE subscription_id = $2 AND status = 'unpaid'",
                )
                .bind(&now_s)
                .bind(&id)
                .execute(db.pool())
                .await?;
                r.terminated += 1;
            }
        } else if days >= policy.suspend_after_days {
            if transition(
                db,
                &id,
                &["active", "past_due"],
                "suspended",
                Some(subscriptions::SUSPEND),
                &now_s,
            )
            .await?
            {
                r.suspended += 1;
            }
        } else if transition(db, &id, &["active"], "past_due", None, &now_s).await? {
            r.past_due += 1;
        }
    }
    Ok(r)
}

/// Mark invoice `id` as being charged and enqueue its `billing.charge` job,
/// once (the mark is the guard).
async fn start_charge(db: &Db, id: &str, now: &str) -> CoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let marked = sqlx::query(
        "UPDATE invoices SET charge_attempted_at = $1, charge_error = NULL WHERE id = $2 \
         AND charge_attempted_at IS NULL AND status = 'unpaid'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(false);
    }
    let tenant: String = sqlx::query_scalar("SELECT tenant_id FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    crate::jobs::enqueue(
        db,
        &mut tx,
        crate::jobs::NewJob::new(
            tenant,
            super::stripe::CHARGE,
            serde_json::json!({ "invoiceId": id }),
        )
        .target("invoice", id)
        .max_attempts(8),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Move a subscription from one of `from` to `to` (and enqueue `job`), once.
async fn transition(
    db: &Db,
    id: &str,
    from: &[&str],
    to: &str,
    job: Option<&str>,
    now: &str,
) -> CoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let s = subscriptions::load(&mut tx, id).await?;
    if !from.contains(&s.status.as_str()) {
        return Ok(false);
    }
    let stamp = match to {
        "cancelled" => ", cancelled_at = $1",
        "suspended" => ", suspended_at = $1",
        "terminated" => ", terminated_at = $1",
        _ => "",
    };
    let moved = sqlx::query(&format!(
        "UPDATE subscriptions SET status = $2, updated_at = $1{stamp} WHERE id = $3 AND status = $4"
    ))
    .bind(now)
    .bind(to)
    .bind(id)
    .bind(&s.status)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    // Suspending something never provisioned (or already suspended) needs no job.
    let skip_job = to == "suspended" && s.status == "suspended";
    if let Some(kind) = job.filter(|_| !skip_job) {
        subscriptions::service_job(db, &mut tx, &s, kind).await?;
    }
    let notice = match to {
        "past_due" => Some(super::notices::Template::InvoiceOverdue),
        "suspended" => Some(super::notices::Template::ServiceSuspended),
        _ => None,
    };
    if let Some(template) = notice {
        let invoice: Option<String> = sqlx::query_scalar(
            "SELECT id FROM invoices WHERE subscription_id = $1 AND status = 'unpaid' ORDER BY due_at LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        super::notices::enqueue(
            db,
            &mut tx,
            &s.tenant_id,
            template,
            invoice.as_deref(),
            Some(id),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    events::record(
        db,
        events::NewEvent {
            tenant_id: &s.tenant_id,
            source: "provisioning",
            level: if to == "past_due" { "warning" } else { "info" },
            kind: &format!("subscription.{to}"),
            message: format!(
                "{} subscription of customer {}: {} → {to}",
                s.product_name, s.customer_id, s.status
            ),
            job_id: None,
            server_id: None,
        },
    )
    .await;
    Ok(true)
}

/// Issue the invoice for the period starting at the subscription's
/// `renews_at`. `Ok(false)` if one exists (the unique index decides).
async fn renewal_invoice(db: &Db, id: &str, now: OffsetDateTime) -> CoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let s = subscriptions::load(&mut tx, id).await?;
    let (Some(start), Some(months)) =
        (s.renews_at.clone(), pricing::cycle_months(&s.billing_cycle))
    else {
        return Ok(false);
    };
    let start_t =
        clock::parse(&start).ok_or_else(|| CoreError::Internal("bad renews_at".into()))?;
    let end = clock::format(pricing::add_months(start_t, months));
    let product: String = sqlx::query_scalar("SELECT name FROM products WHERE id = $1")
        .bind(&s.product_id)
        .fetch_one(&mut *tx)
        .await?;
    let coupon = match &s.coupon_id {
        Some(cid) => super::coupons::renewal_discount(&mut tx, cid, &clock::format(now)).await?,
        None => None,
    };
    let period_words = format!("{} – {}", &start[..10], &end[..10]);
    let mut lines = vec![LineInput {
        description: format!(
            "{product} ({}, {period_words})",
            s.billing_cycle.replace('_', "-")
        ),
        product_id: Some(s.product_id.clone()),
        quantity: s.quantity,
        unit_amount: s.unit_price,
        discountable: coupon.is_some(),
    }];
    if let Some(addons) = s.addons.as_array() {
        for a in addons {
            lines.push(LineInput {
                description: format!(
                    "{} ({period_words})",
                    a["description"].as_str().unwrap_or("add-on")
                ),
                product_id: a["productId"].as_str().map(str::to_string),
                quantity: a["quantity"].as_i64().unwrap_or(1) * s.quantity,
                unit_amount: a["unitPrice"].as_i64().unwrap_or(0),
                discountable: coupon.is_some(),
            });
        }
    }
    let v = super::Viewer::Operator {
        tenant: s.tenant_id.clone(),
        admin: true,
    };
    let customer = customers::get(db, &v, &s.customer_id).await?;
    let rate = tax::rate_for_customer(&mut tx, &customer, &clock::format(now)).await?;
    let credit = invoices::credit_balance(&mut tx, &s.customer_id, &s.currency).await?;
    let priced = pricing::price(
        &lines,
        coupon,
        rate.as_ref().map(|r| pricing::Tax {
            rate_ppm: r.rate_ppm,
            inclusive: r.inclusive,
        }),
        credit,
    );
    let invoice = invoices::insert(
        &mut tx,
        invoices::NewInvoice {
            tenant: &s.tenant_id,
            customer: &customer,
            order_id: None,
            subscription_id: Some(&s.id),
            currency: &s.currency,
            priced: &priced,
            tax_name: rate.as_ref().map(|r| r.name.clone()),
            period: Some((start.clone(), end)),
            due_at: start.clone(),
        },
    )
    .await?;
    invoices::settle_if_nothing_due(db, &mut tx, &invoice, priced.amount_due).await?;
    if priced.amount_due > 0 {
        super::notices::enqueue(
            db,
            &mut tx,
            &s.tenant_id,
            super::notices::Template::InvoiceIssued,
            Some(&invoice),
            None,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}
