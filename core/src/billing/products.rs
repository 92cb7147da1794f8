//! The catalog: products with a price per billing cycle and currency.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{money, pricing::CYCLES, Viewer};
use crate::paging::TOTAL;
use crate::{audit, clock, error::field_error, paging::Page, CoreError, CoreResult, Db};

pub const KINDS: [&str; 8] = [
    "cloudpod",
    "wordpress",
    "container",
    "app",
    "domain",
    "email",
    "backup",
    "addon",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    pub cycle: String,
    pub currency: String,
    /// Minor units.
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub sku: String,
    pub prices: Vec<Price>,
    pub metadata: serde_json::Value,
    pub status: String,
}

impl Product {
    /// The price for `cycle` in `currency`, if the product has one.
    pub fn price(&self, cycle: &str, currency: &str) -> Option<i64> {
        self.prices
            .iter()
            .find(|p| p.cycle == cycle && p.currency == currency)
            .map(|p| p.amount)
    }

    /// The price for `cycle` in whichever currency the product has it.
    pub fn price_any(&self, cycle: &str) -> Option<&Price> {
        self.prices.iter().find(|p| p.cycle == cycle)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "name": self.name,
            "type": self.kind,
            "sku": self.sku,
            "billingCycles": self.prices.iter().map(|p| serde_json::json!({
                "cycle": p.cycle,
                "price": money::to_json(p.amount, &p.currency),
                "currency": p.currency,
            })).collect::<Vec<_>>(),
            "metadata": self.metadata,
            "status": self.status,
        })
    }
}

/// A price as clients send it.
#[derive(Debug, Clone, Deserialize)]
pub struct PriceInput {
    pub cycle: String,
    pub price: serde_json::Number,
    pub currency: String,
}

/// A new product, or the fields to change (`None`: keep).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductInput {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub sku: Option<String>,
    pub billing_cycles: Option<Vec<PriceInput>>,
    pub metadata: Option<serde_json::Value>,
    pub status: Option<String>,
}

fn check_prices(input: &[PriceInput]) -> CoreResult<Vec<Price>> {
    if input.is_empty() {
        return Err(field_error("billingCycles", "needs at least one price"));
    }
    let mut out: Vec<Price> = Vec::new();
    for (i, p) in input.iter().enumerate() {
        if !CYCLES.contains(&p.cycle.as_str()) {
            return Err(field_error(
                format!("billingCycles[{i}].cycle"),
                format!("must be one of {}", CYCLES.join(", ")),
            ));
        }
        let currency = money::check_currency(&p.currency)
            .map_err(|e| field_error(format!("billingCycles[{i}].currency"), e.to_string()))?;
        let amount = money::parse(&p.price.to_string(), &currency)
            .map_err(|e| field_error(format!("billingCycles[{i}].price"), e.to_string()))?;
        if amount < 0 {
            return Err(field_error(
                format!("billingCycles[{i}].price"),
                "cannot be negative",
            ));
        }
        if out
            .iter()
            .any(|o| o.cycle == p.cycle && o.currency == currency)
        {
            return Err(field_error(
                format!("billingCycles[{i}]"),
                format!("{} {} is priced twice", p.cycle, currency),
            ));
        }
        out.push(Price {
            cycle: p.cycle.clone(),
            currency,
            amount,
        });
    }
    Ok(out)
}

async fn load_prices(db: &Db, product_id: &str) -> CoreResult<Vec<Price>> {
    let rows = sqlx::query(
        "SELECT cycle, currency, amount FROM product_prices WHERE product_id = $1 \
         ORDER BY CASE cycle WHEN 'monthly' THEN 1 WHEN 'quarterly' THEN 2 WHEN 'semiannually' THEN 3 \
         WHEN 'yearly' THEN 4 WHEN 'biennially' THEN 5 WHEN 'triennially' THEN 6 ELSE 7 END, currency",
    )
    .bind(product_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Price {
                cycle: r.try_get("cycle")?,
                currency: r.try_get("currency")?,
                amount: r.try_get("amount")?,
            })
        })
        .collect()
}

async fn row_to_product(db: &Db, r: &sqlx::any::AnyRow) -> CoreResult<Product> {
    let id: String = r.try_get("id")?;
    let metadata: String = r.try_get("metadata")?;
    Ok(Product {
        prices: load_prices(db, &id).await?,
        id,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        sku: r.try_get("sku")?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::json!({})),
        status: r.try_get("status")?,
    })
}

/// Which products a list shows.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub kind: Option<String>,
    pub active_only: bool,
    /// Leave out add-ons (the plans catalog).
    pub exclude_addons: bool,
}

/// Products of the viewer's tenant; customers see active ones only.
pub async fn list(
    db: &Db,
    v: &Viewer,
    f: &ProductFilter,
    page: Page,
) -> CoreResult<(Vec<Product>, i64)> {
    let kind = f.kind.clone().unwrap_or_default();
    if !kind.is_empty() && !KINDS.contains(&kind.as_str()) {
        return Err(field_error(
            "type",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let active_only = f.active_only || v.only_customer().is_some();
    let cond = "tenant_id = $1 AND deleted_at IS NULL AND ($2 = '' OR kind = $2) \
                AND ($3 = 0 OR status = 'active') AND ($4 = 0 OR kind <> 'addon')";
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM products WHERE {cond} ORDER BY name, id LIMIT $5 OFFSET $6"
    ))
    .bind(v.tenant())
    .bind(&kind)
    .bind(i64::from(active_only))
    .bind(i64::from(f.exclude_addons))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM products WHERE {cond}"))
            .bind(v.tenant())
            .bind(&kind)
            .bind(i64::from(active_only))
            .bind(i64::from(f.exclude_addons))
            .fetch_one(db.pool())
            .await
    })
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(row_to_product(db, r).await?);
    }
    Ok((items, total))
}

/// One product of the tenant (customers: active ones).
pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Product> {
    let row = sqlx::query(
        "SELECT * FROM products WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(v.tenant())
    .fetch_optional(db.pool())
    .await?
    .ok_or(CoreError::NotFound)?;
    let p = row_to_product(db, &row).await?;
    if v.only_customer().is_some() && p.status != "active" {
        return Err(CoreError::NotFound);
    }
    Ok(p)
}

/// A product's settings, checked for its type on every create and update
/// (the admin form and the API alike): a CloudPod product's size and the
/// actions its customers may take.
pub fn check_metadata(kind: &str, m: &serde_json::Value) -> CoreResult<()> {
    if !m.is_object() {
        return Err(field_error("metadata", "must be an object"));
    }
    if kind == "cloudpod" {
        crate::cloudpods::Size::of(m).map_err(|e| match e {
            CoreError::Field { field, message } => {
                field_error(format!("metadata.{field}"), message)
            }
            other => other,
        })?;
        match &m["customerActions"] {
            serde_json::Value::Null => {}
            serde_json::Value::Array(list)
                if list.iter().all(|a| {
                    a.as_str()
                        .is_some_and(|a| crate::cloudpods::CUSTOMER_ACTIONS.contains(&a))
                }) => {}
            _ => {
                return Err(field_error(
                    "metadata.customerActions",
                    format!(
                        "must be a list of {}",
                        crate::cloudpods::CUSTOMER_ACTIONS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// `edited`, the prices of one `currency` (a form edits one at a time), with
/// the product's prices in every other currency kept as they are.
pub fn with_other_currencies(
    current: &Product,
    currency: &str,
    mut edited: Vec<PriceInput>,
) -> CoreResult<Vec<PriceInput>> {
    for kept in &current.prices {
        if kept.currency != currency {
            edited.push(PriceInput {
                price: super::money::format(kept.amount, &kept.currency)
                    .parse()
                    .map_err(|_| CoreError::Internal("a stored price does not print".into()))?,
                cycle: kept.cycle.clone(),
                currency: kept.currency.clone(),
            });
        }
    }
    Ok(edited)
}

/// Whether subscriptions or CloudPods use the product.
async fn in_use(db: &Db, tenant: &str, id: &str) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM subscriptions WHERE product_id = $1 AND tenant_id = $2) \
              + (SELECT COUNT(*) FROM cloudpods WHERE product_id = $1 AND tenant_id = $2)",
    )
    .bind(id)
    .bind(tenant)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}

async fn write_prices(
    conn: &mut sqlx::AnyConnection,
    product_id: &str,
    prices: &[Price],
) -> CoreResult<()> {
    sqlx::query("DELETE FROM product_prices WHERE product_id = $1")
        .bind(product_id)
        .execute(&mut *conn)
        .await?;
    for p in prices {
        sqlx::query("INSERT INTO product_prices (product_id, cycle, currency, amount) VALUES ($1, $2, $3, $4)")
            .bind(product_id)
            .bind(&p.cycle)
            .bind(&p.currency)
            .bind(p.amount)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Create a product (tenant admins).
pub async fn create(db: &Db, v: &Viewer, actor: &str, input: ProductInput) -> CoreResult<Product> {
    v.require_admin("only admins change the catalog")?;
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    let name = crate::names::display("name", &name, 200)?;
    let kind = input
        .kind
        .clone()
        .ok_or_else(|| field_error("type", "is required"))?;
    if !KINDS.contains(&kind.as_str()) {
        return Err(field_error(
            "type",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let sku = input
        .sku
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if sku.is_empty() || sku.len() > 64 {
        return Err(field_error("sku", "must be 1 to 64 characters"));
    }
    let prices = check_prices(
        input
            .billing_cycles
            .as_deref()
            .ok_or_else(|| field_error("billingCycles", "is required"))?,
    )?;
    let metadata = input.metadata.clone().unwrap_or(serde_json::json!({}));
    check_metadata(&kind, &metadata)?;
    let status = input.status.clone().unwrap_or_else(|| "active".into());
    if !["active", "inactive"].contains(&status.as_str()) {
        return Err(field_error("status", "must be active or inactive"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO products (id, tenant_id, name, kind, sku, metadata, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(v.tenant())
    .bind(&name)
    .bind(&kind)
    .bind(&sku)
    .bind(metadata.to_string())
    .bind(&status)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    write_prices(&mut tx, &id, &prices).await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("product.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("product", &id)
            .meta(serde_json::json!({ "sku": sku })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, &id).await
}

/// Change a product (tenant admins). Prices, when given, replace all prices;
/// existing subscriptions keep the price they were sold at.
pub async fn update(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    input: ProductInput,
) -> CoreResult<Product> {
    v.require_admin("only admins change the catalog")?;
    let cur = get(db, v, id).await?;
    let name = match &input.name {
        Some(n) => crate::names::display("name", n, 200)?,
        None => cur.name.clone(),
    };
    let kind = input.kind.clone().unwrap_or(cur.kind.clone());
    if !KINDS.contains(&kind.as_str()) {
        return Err(field_error(
            "type",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let sku = match &input.sku {
        Some(s) if s.trim().is_empty() || s.len() > 64 => {
            return Err(field_error("sku", "must be 1 to 64 characters"))
        }
        Some(s) => s.trim().to_string(),
        None => cur.sku.clone(),
    };
    let prices = match &input.billing_cycles {
        Some(p) => Some(check_prices(p)?),
        None => None,
    };
    let metadata = input.metadata.clone().unwrap_or(cur.metadata.clone());
    check_metadata(&kind, &metadata)?;
    if kind != cur.kind && in_use(db, v.tenant(), &cur.id).await? {
        return Err(CoreError::Conflict(format!(
            "{} is in use by subscriptions or services; it stays a {} product",
            cur.name, cur.kind
        )));
    }
    let status = input.status.clone().unwrap_or(cur.status.clone());
    if !["active", "inactive"].contains(&status.as_str()) {
        return Err(field_error("status", "must be active or inactive"));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE products SET name = $1, kind = $2, sku = $3, metadata = $4, status = $5, updated_at = $6 \
         WHERE id = $7 AND tenant_id = $8",
    )
    .bind(&name)
    .bind(&kind)
    .bind(&sku)
    .bind(metadata.to_string())
    .bind(&status)
    .bind(clock::now())
    .bind(id)
    .bind(v.tenant())
    .execute(&mut *tx)
    .await?;
    if let Some(prices) = &prices {
        write_prices(&mut tx, id, prices).await?;
    }
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("product.updated")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("product", id),
    )
    .await?;
    tx.commit().await?;
    get(db, v, id).await
}

/// Delete a product (tenant admins). Refused while live subscriptions use it;
/// past orders and invoices keep naming it.
pub async fn delete(db: &Db, v: &Viewer, actor: &str, id: &str) -> CoreResult<()> {
    v.require_admin("only admins change the catalog")?;
    get(db, v, id).await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions WHERE product_id = $1 AND status NOT IN ('cancelled', 'terminated')",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?;
    if live > 0 {
        return Err(CoreError::Conflict(format!(
            "{live} subscription(s) use this product; set it inactive instead"
        )));
    }
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE products SET deleted_at = $1, status = 'inactive', sku = sku || '~deleted~' || id, updated_at = $1 \
         WHERE id = $2 AND tenant_id = $3",
    )
    .bind(&now)
    .bind(id)
    .bind(v.tenant())
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("product.deleted")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("product", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
