//! Tax rates per country (and region), inclusive or added, valid from a
//! date: an invoice uses the rate in force on its date.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{money, Viewer};
use crate::{audit, clock, error::field_error, CoreResult, Db};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxRate {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub country: String,
    pub region: String,
    pub rate_ppm: i64,
    pub inclusive: bool,
    pub valid_from: String,
    pub valid_to: Option<String>,
}

fn row_to_rate(r: &sqlx::any::AnyRow) -> CoreResult<TaxRate> {
    Ok(TaxRate {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        country: r.try_get("country")?,
        region: r.try_get("region")?,
        rate_ppm: r.try_get("rate_ppm")?,
        inclusive: crate::db::is_set(r.try_get("inclusive")?),
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxRateInput {
    pub name: String,
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Percent: "19", "8.875".
    pub rate: String,
    #[serde(default)]
    pub inclusive: bool,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

fn time_field(field: &str, v: Option<&str>) -> CoreResult<Option<String>> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => {
            let parsed = clock::parse(t).or_else(|| clock::parse(&format!("{t}T00:00:00Z")));
            Ok(Some(clock::format(parsed.ok_or_else(|| {
                field_error(field, "must be a date (2026-01-01) or an RFC 3339 time")
            })?)))
        }
    }
}

/// Add a rate (tenant admins).
pub async fn create(db: &Db, v: &Viewer, actor: &str, input: TaxRateInput) -> CoreResult<TaxRate> {
    v.require_admin("only admins manage tax rates")?;
    let name = &crate::names::display("name", &input.name, 100)?;
    let country = input.country.trim().to_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(field_error(
            "country",
            "must be an ISO 3166-1 alpha-2 code like DE",
        ));
    }
    let region = input
        .region
        .clone()
        .unwrap_or_default()
        .trim()
        .to_uppercase();
    let rate = money::parse_percent(&input.rate).map_err(|e| field_error("rate", e.to_string()))?;
    let from = time_field("validFrom", input.valid_from.as_deref())?.unwrap_or_else(clock::now);
    let to = time_field("validTo", input.valid_to.as_deref())?;
    if to.as_deref().is_some_and(|t| t <= from.as_str()) {
        return Err(field_error("validTo", "must be after validFrom"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO tax_rates (id, tenant_id, name, country, region, rate_ppm, inclusive, valid_from, valid_to, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(v.tenant())
    .bind(name)
    .bind(&country)
    .bind(&region)
    .bind(rate)
    .bind(crate::db::flag(input.inclusive))
    .bind(&from)
    .bind(&to)
    .bind(clock::now())
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("tax_rate.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("tax_rate", &id)
            .meta(serde_json::json!({ "country": country, "region": region, "rate": money::format_percent(rate) })),
    )
    .await?;
    tx.commit().await?;
    let row = sqlx::query("SELECT * FROM tax_rates WHERE id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await?;
    row_to_rate(&row)
}

pub async fn list(db: &Db, v: &Viewer) -> CoreResult<Vec<TaxRate>> {
    v.require_operator("tax rates are managed by operators")?;
    sqlx::query(
        "SELECT * FROM tax_rates WHERE tenant_id = $1 ORDER BY country, region, valid_from DESC",
    )
    .bind(v.tenant())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(row_to_rate)
    .collect()
}

/// The rate for an invoice dated `at` to `customer`: by the country and
/// region of its address; none without an address.
pub(crate) async fn rate_for_customer(
    conn: &mut AnyConnection,
    customer: &super::customers::Customer,
    at: &str,
) -> CoreResult<Option<TaxRate>> {
    match &customer.address {
        Some(a) => {
            rate_for(
                conn,
                &customer.tenant_id,
                &a.country,
                a.state.as_deref().unwrap_or(""),
                at,
            )
            .await
        }
        None => Ok(None),
    }
}

/// The rate for an invoice dated `at` to a customer in `country`/`region`:
/// a regional rate wins over the country's; the latest valid one wins.
pub(crate) async fn rate_for(
    conn: &mut AnyConnection,
    tenant: &str,
    country: &str,
    region: &str,
    at: &str,
) -> CoreResult<Option<TaxRate>> {
    let row = sqlx::query(
        "SELECT * FROM tax_rates WHERE tenant_id = $1 AND country = $2 AND (region = '' OR region = $3) \
         AND valid_from <= $4 AND (valid_to IS NULL OR valid_to > $4) \
         ORDER BY CASE WHEN region = '' THEN 1 ELSE 0 END, valid_from DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(country)
    .bind(region.to_uppercase())
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(row_to_rate).transpose()
}
