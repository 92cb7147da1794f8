//! Orders: a checkout. One transaction prices the items (add-ons, coupon,
//! tax, credit), writes the order, its invoice (next number of the tenant)
//! and one pending subscription per ordered product; paying the invoice
//! activates them.

use serde::Deserialize;
use sqlx::Row;

use super::{
    amount, coupons, customers, invoices,
    pricing::{self, LineInput},
    products::{self, Product},
    tax, Viewer,
};
use crate::paging::TOTAL;
use crate::{audit, clock, error::field_error, CoreError, CoreResult, Db};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonInput {
    pub product_id: String,
    pub quantity: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemInput {
    pub product_id: String,
    pub billing_cycle: String,
    pub quantity: Option<i64>,
    #[serde(default)]
    pub addons: Vec<AddonInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInput {
    pub customer_id: Option<String>,
    pub items: Vec<ItemInput>,
    pub coupon_code: Option<String>,
    /// Which currency to bill in when the products are priced in several.
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub position: i64,
    pub parent_position: Option<i64>,
    pub product_id: String,
    pub description: String,
    pub billing_cycle: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    pub coupon_code: Option<String>,
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub invoice_id: Option<String>,
    pub lines: Vec<OrderLine>,
    pub created_at: String,
}

impl Order {
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.currency;
        let line = |l: &OrderLine| {
            serde_json::json!({
                "productId": l.product_id,
                "description": l.description,
                "quantity": l.quantity,
                "unitPrice": amount(l.unit_price, c),
                "total": amount(l.total, c),
            })
        };
        let items: Vec<serde_json::Value> = self
            .lines
            .iter()
            .filter(|l| l.parent_position.is_none())
            .map(|l| {
                let addons: Vec<&OrderLine> = self
                    .lines
                    .iter()
                    .filter(|a| a.parent_position == Some(l.position))
                    .collect();
                let with_addons = l.total + addons.iter().map(|a| a.total).sum::<i64>();
                let mut j = line(l);
                j["billingCycle"] = l.billing_cycle.clone().into();
                j["total"] = amount(with_addons, c);
                j["addons"] = addons.into_iter().map(line).collect::<Vec<_>>().into();
                j
            })
            .collect();
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "customerId": self.customer_id,
            "status": self.status,
            "items": items,
            "couponCode": self.coupon_code,
            "subtotal": amount(self.subtotal, c),
            "discount": amount(self.discount, c),
            "tax": amount(self.tax, c),
            "total": amount(self.total, c),
            "currency": c,
            "invoiceId": self.invoice_id,
            "createdAt": self.created_at,
        })
    }
}

/// One order the viewer may see.
pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Order> {
    let row = sqlx::query("SELECT * FROM orders WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(v.tenant())
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    let customer: String = row.try_get("customer_id")?;
    if v.only_customer().is_some_and(|c| c != customer) {
        return Err(CoreError::NotFound);
    }
    let lines = sqlx::query("SELECT * FROM order_items WHERE order_id = $1 ORDER BY position")
        .bind(id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(OrderLine {
                position: r.try_get("position")?,
                parent_position: r.try_get("parent_position")?,
                product_id: r.try_get("product_id")?,
                description: r.try_get("description")?,
                billing_cycle: r.try_get("billing_cycle")?,
                quantity: r.try_get("quantity")?,
                unit_price: r.try_get("unit_price")?,
                total: r.try_get("total")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(Order {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        customer_id: customer,
        status: row.try_get("status")?,
        currency: row.try_get("currency")?,
        coupon_code: row.try_get("coupon_code")?,
        subtotal: row.try_get("subtotal")?,
        discount: row.try_get("discount")?,
        tax: row.try_get("tax")?,
        total: row.try_get("total")?,
        invoice_id: row.try_get("invoice_id")?,
        lines,
        created_at: row.try_get("created_at")?,
    })
}

fn quantity(q: Option<i64>, field: String) -> CoreResult<i64> {
    let q = q.unwrap_or(1);
    if !(1..=1000).contains(&q) {
        return Err(field_error(field, "must be 1 to 1000"));
    }
    Ok(q)
}

/// Choose the order's currency: the one asked for, else the one currency
/// the first product is priced in for its cycle.
fn pick_currency(input: &OrderInput, first: &Product) -> CoreResult<String> {
    if let Some(c) = &input.currency {
        return super::money::check_currency(c).map_err(|e| field_error("currency", e.to_string()));
    }
    let cycle = &input.items[0].billing_cycle;
    let mut cs: Vec<&str> = first
        .prices
        .iter()
        .filter(|p| &p.cycle == cycle)
        .map(|p| p.currency.as_str())
        .collect();
    cs.dedup();
    match cs.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(field_error(
            "items[0].billingCycle",
            format!("{} is not sold {cycle}", first.name),
        )),
        many => Err(field_error(
            "currency",
            format!("say which currency to pay in: {}", many.join(", ")),
        )),
    }
}

/// Place an order: returns the order and its invoice.
pub async fn create(
    db: &Db,
    v: &Viewer,
    actor: &str,
    input: OrderInput,
) -> CoreResult<(Order, invoices::Invoice)> {
    let customer_id = match (v.only_customer(), input.customer_id.as_deref()) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(CoreError::Forbidden(
                "customers order for themselves only".into(),
            ))
        }
        (Some(own), _) => own.to_string(),
        (None, Some(asked)) => asked.to_string(),
        (None, None) => {
            return Err(field_error(
                "customerId",
                "is required when an operator orders",
            ))
        }
    };
    let customer = customers::get(db, v, &customer_id)
        .await
        .map_err(|e| match e {
            CoreError::NotFound => field_error("customerId", "no such customer"),
            other => other,
        })?;
    if customer.status != "active" {
        return Err(CoreError::Conflict(format!(
            "the customer's account is {}; orders are refused",
            customer.status
        )));
    }
    if input.items.is_empty() {
        return Err(field_error("items", "needs at least one item"));
    }
    if input.items.len() > 50 {
        return Err(field_error("items", "at most 50 items per order"));
    }
    // Look every product up first; refuse what cannot be sold.
    let mut products: Vec<(Product, Vec<(Product, i64)>)> = Vec::new();
    for (i, item) in input.items.iter().enumerate() {
        let p = products::get(db, v, &item.product_id)
            .await
            .map_err(|_| field_error(format!("items[{i}].productId"), "no such product"))?;
        if p.status != "active" {
            return Err(field_error(
                format!("items[{i}].productId"),
                format!("{} is not for sale", p.name),
            ));
        }
        if p.kind == "addon" {
            return Err(field_error(
                format!("items[{i}].productId"),
                format!(
                    "{} is an add-on: order it in the addons of a product",
                    p.name
                ),
            ));
        }
        if !pricing::CYCLES.contains(&item.billing_cycle.as_str()) {
            return Err(field_error(
                format!("items[{i}].billingCycle"),
                format!("must be one of {}", pricing::CYCLES.join(", ")),
            ));
        }
        quantity(item.quantity, format!("items[{i}].quantity"))?;
        let mut addons = Vec::new();
        for (j, a) in item.addons.iter().enumerate() {
            let ap = products::get(db, v, &a.product_id).await.map_err(|_| {
                field_error(
                    format!("items[{i}].addons[{j}].productId"),
                    "no such product",
                )
            })?;
            if ap.kind != "addon" || ap.status != "active" {
                return Err(field_error(
                    format!("items[{i}].addons[{j}].productId"),
                    format!("{} is not an add-on for sale", ap.name),
                ));
            }
            let q = quantity(a.quantity, format!("items[{i}].addons[{j}].quantity"))?;
            addons.push((ap, q));
        }
        products.push((p, addons));
    }
    let currency = pick_currency(&input, &products[0].0)?;

    let mut tx = db.begin_write().await?;
    let coupon = match input
        .coupon_code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        Some(code) => Some(coupons::redeem(&mut tx, v.tenant(), code, &currency).await?),
        None => None,
    };
    // Lines: each product, then its add-ons (same cycle, same currency).
    let mut lines: Vec<LineInput> = Vec::new();
    let mut order_lines: Vec<OrderLine> = Vec::new();
    for (i, (item, (p, addons))) in input.items.iter().zip(&products).enumerate() {
        let unit = p.price(&item.billing_cycle, &currency).ok_or_else(|| {
            field_error(
                format!("items[{i}].billingCycle"),
                format!(
                    "{} is not sold {} in {currency}",
                    p.name, item.billing_cycle
                ),
            )
        })?;
        let q = item.quantity.unwrap_or(1);
        let cycle_word = item.billing_cycle.replace('_', "-");
        let parent = order_lines.len() as i64 + 1;
        lines.push(LineInput {
            description: format!("{} ({cycle_word})", p.name),
            product_id: Some(p.id.clone()),
            quantity: q,
            unit_amount: unit,
            discountable: coupon.as_ref().is_some_and(|c| c.applies_to(&p.id)),
        });
        order_lines.push(OrderLine {
            position: parent,
            parent_position: None,
            product_id: p.id.clone(),
            description: format!("{} ({cycle_word})", p.name),
            billing_cycle: item.billing_cycle.clone(),
            quantity: q,
            unit_price: unit,
            total: 0,
        });
        for (j, (a, aq)) in addons.iter().enumerate() {
            let unit = a.price(&item.billing_cycle, &currency).ok_or_else(|| {
                field_error(
                    format!("items[{i}].addons[{j}].productId"),
                    format!(
                        "{} is not sold {} in {currency}",
                        a.name, item.billing_cycle
                    ),
                )
            })?;
            let qty = aq * q;
            lines.push(LineInput {
                description: format!("{} for {} ({cycle_word})", a.name, p.name),
                product_id: Some(a.id.clone()),
                quantity: qty,
                unit_amount: unit,
                discountable: coupon.as_ref().is_some_and(|c| c.applies_to(&a.id)),
            });
            order_lines.push(OrderLine {
                position: order_lines.len() as i64 + 1,
                parent_position: Some(parent),
                product_id: a.id.clone(),
                description: format!("{} for {} ({cycle_word})", a.name, p.name),
                billing_cycle: item.billing_cycle.clone(),
                quantity: qty,
                unit_price: unit,
                total: 0,
            });
        }
    }
    if let Some(c) = &coupon {
        if !lines.iter().any(|l| l.discountable) {
            return Err(field_error(
                "couponCode",
                format!("{} does not apply to these products", c.code),
            ));
        }
    }
    let now = clock::now();
    let rate = tax::rate_for_customer(&mut tx, &customer, &now).await?;
    let credit = invoices::credit_balance(&mut tx, &customer.id, &currency).await?;
    let priced = pricing::price(
        &lines,
        coupon.as_ref().map(|c| c.discount()),
        rate.as_ref().map(|r| pricing::Tax {
            rate_ppm: r.rate_ppm,
            inclusive: r.inclusive,
        }),
        credit,
    );
    for (l, p) in order_lines.iter_mut().zip(&priced.lines) {
        l.total = p.total;
    }
    let order_id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO orders (id, tenant_id, customer_id, status, currency, coupon_id, coupon_code, subtotal, discount, \
         tax, total, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&order_id)
    .bind(v.tenant())
    .bind(&customer.id)
    .bind(&currency)
    .bind(coupon.as_ref().map(|c| c.id.clone()))
    .bind(coupon.as_ref().map(|c| c.code.clone()))
    .bind(priced.subtotal)
    .bind(priced.discount)
    .bind(priced.tax)
    .bind(priced.total)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    for l in &order_lines {
        sqlx::query(
            "INSERT INTO order_items (order_id, position, parent_position, product_id, description, billing_cycle, \
             quantity, unit_price, total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&order_id)
        .bind(l.position)
        .bind(l.parent_position)
        .bind(&l.product_id)
        .bind(&l.description)
        .bind(&l.billing_cycle)
        .bind(l.quantity)
        .bind(l.unit_price)
        .bind(l.total)
        .execute(&mut *tx)
        .await?;
    }
    let invoice_id = invoices::insert(
        &mut tx,
        invoices::NewInvoice {
            tenant: v.tenant(),
            customer: &customer,
            order_id: Some(&order_id),
            subscription_id: None,
            currency: &currency,
            priced: &priced,
            tax_name: rate.as_ref().map(|r| r.name.clone()),
            period: None,
            due_at: now.clone(),
        },
    )
    .await?;
    sqlx::query("UPDATE orders SET invoice_id = $1 WHERE tenant_id = $3 AND id = $2")
        .bind(&invoice_id)
        .bind(&order_id)
        .bind(v.tenant())
        .execute(&mut *tx)
        .await?;
    // One pending subscription per product, carrying its add-ons.
    for (item, (p, addons)) in input.items.iter().zip(&products) {
        let addons_json: Vec<serde_json::Value> = addons
            .iter()
            .map(|(a, q)| {
                serde_json::json!({
                    "productId": a.id, "description": a.name, "quantity": q,
                    "unitPrice": a.price(&item.billing_cycle, &currency).unwrap_or(0),
                })
            })
            .collect();
        sqlx::query(
            "INSERT INTO subscriptions (id, tenant_id, customer_id, product_id, order_id, status, billing_cycle, currency, \
             quantity, unit_price, coupon_id, addons, starts_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $12, $12)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(v.tenant())
        .bind(&customer.id)
        .bind(&p.id)
        .bind(&order_id)
        .bind(&item.billing_cycle)
        .bind(&currency)
        .bind(item.quantity.unwrap_or(1))
        .bind(p.price(&item.billing_cycle, &currency).unwrap_or(0))
        .bind(
            coupon
                .as_ref()
                .filter(|c| c.duration == "recurring" && c.applies_to(&p.id))
                .map(|c| c.id.clone()),
        )
        .bind(serde_json::Value::from(addons_json).to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    }
    // Nothing left to pay (coupon or credit): paid at once.
    invoices::settle_if_nothing_due(db, &mut tx, &invoice_id, priced.amount_due).await?;
    super::notices::enqueue(
        db,
        &mut tx,
        v.tenant(),
        super::notices::Template::OrderConfirmation,
        Some(&invoice_id),
        None,
        None,
    )
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("order.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("order", &order_id)
            .meta(serde_json::json!({
                "customerId": customer.id,
                "total": super::money::format(priced.total, &currency),
                "currency": currency,
                "coupon": coupon.as_ref().map(|c| c.code.clone()),
            })),
    )
    .await?;
    tx.commit().await?;
    let order = get(db, v, &order_id).await?;
    let invoice = invoices::get(db, v, &invoice_id).await?;
    Ok((order, invoice))
}

/// An order as lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub coupon_code: Option<String>,
    pub invoice_id: Option<String>,
    pub invoice_number: Option<i64>,
    /// The first line's description, and how many lines the order has.
    pub first_line: String,
    pub lines: i64,
    pub created_at: String,
}

/// Orders the viewer may see (a customer login: its own), newest first,
/// optionally of one status.
pub async fn list(
    db: &Db,
    v: &Viewer,
    status: Option<&str>,
    page: crate::paging::Page,
) -> CoreResult<(Vec<OrderSummary>, i64)> {
    if let Some(s) = status {
        if !["pending", "paid", "cancelled", "fraud"].contains(&s) {
            return Err(crate::error::field_error(
                "status",
                "must be one of pending, paid, cancelled, fraud",
            ));
        }
    }
    let filter =
        "o.tenant_id = $1 AND ($2 = '' OR o.customer_id = $2) AND ($3 = '' OR o.status = $3)";
    let customer = &v.customer_scope(None);
    let status = status.unwrap_or("");
    let rows = sqlx::query(&format!(
        "SELECT o.id, o.customer_id, c.name AS customer_name, o.status, o.currency, o.total, o.coupon_code, \
         o.invoice_id, i.number AS invoice_number, o.created_at, \
         (SELECT description FROM order_items x WHERE x.order_id = o.id ORDER BY position LIMIT 1) AS first_line, \
         (SELECT COUNT(*) FROM order_items x WHERE x.order_id = o.id) AS line_count, {TOTAL} \
         FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN invoices i ON i.id = o.invoice_id \
         WHERE {filter} ORDER BY o.created_at DESC, o.id LIMIT $4 OFFSET $5"
    ))
    .bind(v.tenant())
    .bind(customer)
    .bind(status)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM orders o WHERE {filter}"))
            .bind(v.tenant())
            .bind(customer)
            .bind(status)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    let list = rows
        .iter()
        .map(|r| {
            Ok(OrderSummary {
                id: r.try_get("id")?,
                customer_id: r.try_get("customer_id")?,
                customer_name: r.try_get("customer_name")?,
                status: r.try_get("status")?,
                currency: r.try_get("currency")?,
                total: r.try_get("total")?,
                coupon_code: r.try_get("coupon_code")?,
                invoice_id: r.try_get("invoice_id")?,
                invoice_number: r.try_get("invoice_number")?,
                first_line: r
                    .try_get::<Option<String>, _>("first_line")?
                    .unwrap_or_default(),
                lines: r.try_get("line_count")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok((list, total))
}
