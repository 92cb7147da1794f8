//! Coupons: a percent or a fixed amount off, once or on every renewal, with
//! an expiry, a redemption cap and optionally only some products.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{money, pricing::Discount, Viewer};
use crate::{audit, clock, error::field_error, CoreError, CoreResult, Db};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub id: String,
    pub tenant_id: String,
    pub code: String,
    /// `percent` or `fixed`.
    pub kind: String,
    pub percent_ppm: Option<i64>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// `once` or `recurring`.
    pub duration: String,
    pub product_ids: Vec<String>,
    pub expires_at: Option<String>,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    pub active: bool,
}

impl Coupon {
    pub fn discount(&self) -> Discount {
        match (self.kind.as_str(), self.percent_ppm, self.amount) {
            ("percent", Some(p), _) => Discount::Percent(p),
            (_, _, Some(a)) => Discount::Fixed(a),
            _ => Discount::Fixed(0),
        }
    }

    /// Whether the coupon has run out at `at` (an RFC 3339 time).
    pub fn expired_at(&self, at: &str) -> bool {
        self.expires_at.as_deref().is_some_and(|e| e <= at)
    }

    /// Whether the coupon discounts `product_id`.
    pub fn applies_to(&self, product_id: &str) -> bool {
        self.product_ids.is_empty() || self.product_ids.iter().any(|p| p == product_id)
    }

    /// "10 % off" / "5.00 USD off", for invoice lines and pages.
    pub fn describe(&self) -> String {
        match (self.percent_ppm, self.amount, &self.currency) {
            (Some(p), _, _) => format!("{} % off", money::format_percent(p)),
            (_, Some(a), Some(c)) => format!("{} {c} off", money::format(a, c)),
            _ => "discount".into(),
        }
    }
}

fn row_to_coupon(r: &sqlx::any::AnyRow) -> CoreResult<Coupon> {
    let ids: String = r.try_get("product_ids")?;
    Ok(Coupon {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        code: r.try_get("code")?,
        kind: r.try_get("kind")?,
        percent_ppm: r.try_get("percent_ppm")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        duration: r.try_get("duration")?,
        product_ids: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        expires_at: r.try_get("expires_at")?,
        max_redemptions: r.try_get("max_redemptions")?,
        redemptions: r.try_get("redemptions")?,
        active: crate::db::is_set(r.try_get("active")?),
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponInput {
    pub code: String,
    /// `percent` or `fixed`.
    pub kind: String,
    /// For percent coupons: "10", "12.5".
    pub percent: Option<String>,
    /// For fixed coupons: the amount and its currency.
    pub amount: Option<String>,
    pub currency: Option<String>,
    /// `once` (default) or `recurring`.
    pub duration: Option<String>,
    #[serde(default)]
    pub product_ids: Vec<String>,
    pub expires_at: Option<String>,
    pub max_redemptions: Option<i64>,
}

/// Normalized coupon code: trimmed, upper case.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_uppercase()
}

/// Create a coupon (tenant admins).
pub async fn create(db: &Db, v: &Viewer, actor: &str, input: CouponInput) -> CoreResult<Coupon> {
    v.require_admin("only admins manage coupons")?;
    let code = normalize_code(&input.code);
    if code.is_empty()
        || code.len() > 40
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(field_error(
            "code",
            "must be 1 to 40 letters, digits, - or _",
        ));
    }
    let (percent_ppm, amount, currency) = match input.kind.as_str() {
        "percent" => {
            let p = money::parse_percent(input.percent.as_deref().unwrap_or_default())
                .map_err(|e| field_error("percent", e.to_string()))?;
            if p == 0 {
                return Err(field_error("percent", "must be more than 0"));
            }
            (Some(p), None, None)
        }
        "fixed" => {
            let c = money::check_currency(input.currency.as_deref().unwrap_or_default())
                .map_err(|e| field_error("currency", e.to_string()))?;
            let a = money::parse(input.amount.as_deref().unwrap_or_default(), &c)
                .map_err(|e| field_error("amount", e.to_string()))?;
            if a <= 0 {
                return Err(field_error("amount", "must be more than 0"));
            }
            (None, Some(a), Some(c))
        }
        _ => return Err(field_error("kind", "must be percent or fixed")),
    };
    let duration = input.duration.clone().unwrap_or_else(|| "once".into());
    if !["once", "recurring"].contains(&duration.as_str()) {
        return Err(field_error("duration", "must be once or recurring"));
    }
    let expires_at = match input.expires_at.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => {
            Some(clock::format(clock::parse(t).ok_or_else(|| {
                field_error("expiresAt", "must be an RFC 3339 time")
            })?))
        }
        None => None,
    };
    if input.max_redemptions.is_some_and(|m| m < 1) {
        return Err(field_error("maxRedemptions", "must be at least 1"));
    }
    for (i, pid) in input.product_ids.iter().enumerate() {
        super::products::get(db, v, pid)
            .await
            .map_err(|_| field_error(format!("productIds[{i}]"), "no such product"))?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    let res = sqlx::query(
        "INSERT INTO coupons (id, tenant_id, code, kind, percent_ppm, amount, currency, duration, product_ids, \
         expires_at, max_redemptions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(&id)
    .bind(v.tenant())
    .bind(&code)
    .bind(&input.kind)
    .bind(percent_ppm)
    .bind(amount)
    .bind(currency)
    .bind(&duration)
    .bind(input.product_ids.join(","))
    .bind(expires_at)
    .bind(input.max_redemptions)
    .bind(&now)
    .execute(&mut *tx)
    .await;
    res?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("coupon.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("coupon", &id)
            .meta(serde_json::json!({ "code": code })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, &id).await
}

pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Coupon> {
    v.require_operator("coupons are managed by operators")?;
    let row = sqlx::query("SELECT * FROM coupons WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(v.tenant())
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_coupon(&row)
}

pub async fn list(db: &Db, v: &Viewer) -> CoreResult<Vec<Coupon>> {
    v.require_operator("coupons are managed by operators")?;
    sqlx::query("SELECT * FROM coupons WHERE tenant_id = $1 ORDER BY code")
        .bind(v.tenant())
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(row_to_coupon)
        .collect()
}

/// Switch a coupon on or off (tenant admins).
pub async fn set_active(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    active: bool,
) -> CoreResult<Coupon> {
    v.require_admin("only admins manage coupons")?;
    get(db, v, id).await?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE coupons SET active = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4")
        .bind(crate::db::flag(active))
        .bind(clock::now())
        .bind(id)
        .bind(v.tenant())
        .execute(&mut *tx)
        .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new(if active {
            "coupon.enabled"
        } else {
            "coupon.disabled"
        })
        .tenant(v.tenant())
        .actor(Some(actor.to_string()))
        .resource("coupon", id),
    )
    .await?;
    tx.commit().await?;
    get(db, v, id).await
}

/// Check `code` for an order in `currency` and count one redemption, on the
/// order's connection (a rollback gives the redemption back). The cap holds
/// under concurrent orders: the count moves only while below it.
pub(crate) async fn redeem(
    conn: &mut AnyConnection,
    tenant: &str,
    code: &str,
    currency: &str,
) -> CoreResult<Coupon> {
    let code = normalize_code(code);
    let unknown = || field_error("couponCode", format!("{code} is not a valid coupon"));
    let row = sqlx::query("SELECT * FROM coupons WHERE tenant_id = $1 AND code = $2")
        .bind(tenant)
        .bind(&code)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(unknown)?;
    let c = row_to_coupon(&row)?;
    if !c.active {
        return Err(unknown());
    }
    if c.expired_at(&clock::now()) {
        return Err(field_error("couponCode", format!("{code} has expired")));
    }
    if let Some(cur) = &c.currency {
        if cur != currency {
            return Err(field_error(
                "couponCode",
                format!("{code} is for orders in {cur}, this order is in {currency}"),
            ));
        }
    }
    let taken = sqlx::query(
        "UPDATE coupons SET redemptions = redemptions + 1, updated_at = $1 \
         WHERE tenant_id = $3 AND id = $2 AND (max_redemptions IS NULL OR redemptions < max_redemptions)",
    )
    .bind(clock::now())
    .bind(&c.id)
    .bind(tenant)
    .execute(&mut *conn)
    .await?;
    if taken.rows_affected() == 0 {
        return Err(field_error(
            "couponCode",
            format!("{code} has been used up"),
        ));
    }
    Ok(c)
}

/// The discount a recurring coupon still gives a renewal at `at`: none once
/// it is switched off or expired.
pub(crate) async fn renewal_discount(
    conn: &mut AnyConnection,
    id: &str,
    at: &str,
) -> CoreResult<Option<Discount>> {
    let row = sqlx::query("SELECT * FROM coupons WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let c = row_to_coupon(&row)?;
    Ok((c.active && !c.expired_at(at)).then(|| c.discount()))
}
