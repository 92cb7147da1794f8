//! Customers: the people and companies who pay.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Viewer;
use crate::paging::TOTAL;
use crate::{
    audit, clock, error::field_error, paging::Page, users::normalize_email, CoreError, CoreResult,
    Db,
};

pub const STATUSES: [&str; 3] = ["active", "suspended", "closed"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub tax_id: Option<String>,
    pub status: String,
    pub created_at: String,
    #[serde(skip)]
    pub stripe_customer_id: Option<String>,
}

/// A new customer, or the fields to change (`None`: keep).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInput {
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "some_or_null")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "some_or_null")]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "some_or_null")]
    pub tax_id: Option<Option<String>>,
    pub status: Option<String>,
}

/// `null` → `Some(None)` (clear), absent → `None` (keep).
fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn row_to_customer(r: &sqlx::any::AnyRow) -> CoreResult<Customer> {
    let line1: Option<String> = r.try_get("address_line1")?;
    let address = match line1 {
        Some(line1) => Some(Address {
            line1,
            line2: r.try_get("address_line2")?,
            city: r.try_get::<Option<String>, _>("city")?.unwrap_or_default(),
            state: r.try_get("state")?,
            postal_code: r.try_get("postal_code")?,
            country: r
                .try_get::<Option<String>, _>("country")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Customer {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        address,
        tax_id: r.try_get("tax_id")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        stripe_customer_id: r.try_get("stripe_customer_id")?,
    })
}

pub(crate) fn check_address(a: &Address) -> CoreResult<()> {
    if a.line1.trim().is_empty() {
        return Err(field_error("address.line1", "is required"));
    }
    if a.city.trim().is_empty() {
        return Err(field_error("address.city", "is required"));
    }
    if a.country.len() != 2 || !a.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(field_error(
            "address.country",
            "must be an ISO 3166-1 alpha-2 code like US or DE",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> CoreResult<String> {
    crate::names::display("name", name, 200)
}

fn check_email(email: &str) -> CoreResult<String> {
    normalize_email(email)
}

/// Customers of the viewer's tenant (a customer login: only itself),
/// optionally matching `search` in name or email, newest first.
pub async fn list(
    db: &Db,
    v: &Viewer,
    search: Option<&str>,
    page: Page,
) -> CoreResult<(Vec<Customer>, i64)> {
    let like = format!(
        "%{}%",
        search
            .unwrap_or_default()
            .trim()
            .to_lowercase()
            .replace(['%', '_'], "")
    );
    let only = &v.customer_scope(None);
    let cond =
        "tenant_id = $1 AND ($2 = '' OR id = $2) AND (LOWER(name) LIKE $3 OR LOWER(email) LIKE $3)";
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM customers WHERE {cond} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(v.tenant())
    .bind(only)
    .bind(&like)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM customers WHERE {cond}"))
            .bind(v.tenant())
            .bind(only)
            .bind(&like)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter()
            .map(row_to_customer)
            .collect::<CoreResult<_>>()?,
        total,
    ))
}

/// One customer the viewer may see.
pub async fn get(db: &Db, v: &Viewer, id: &str) -> CoreResult<Customer> {
    if v.only_customer().is_some_and(|c| c != id) {
        return Err(CoreError::NotFound);
    }
    let row = sqlx::query("SELECT * FROM customers WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(v.tenant())
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_customer(&row)
}

/// Create a customer (operators).
pub async fn create(
    db: &Db,
    v: &Viewer,
    actor: &str,
    input: CustomerInput,
) -> CoreResult<Customer> {
    v.require_operator("only operators add customers")?;
    let name = check_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| field_error("name", "is required"))?,
    )?;
    let email = check_email(
        input
            .email
            .as_deref()
            .ok_or_else(|| field_error("email", "is required"))?,
    )?;
    let address = input.address.flatten();
    if let Some(a) = &address {
        check_address(a)?;
    }
    let status = input.status.unwrap_or_else(|| "active".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(field_error("status", "must be active, suspended or closed"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let a = address.unwrap_or_default();
    let has = !a.line1.is_empty();
    let mut tx = db.begin_write().await?;
    let res = sqlx::query(
        "INSERT INTO customers (id, tenant_id, name, email, phone, address_line1, address_line2, city, state, \
         postal_code, country, tax_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(&id)
    .bind(v.tenant())
    .bind(&name)
    .bind(&email)
    .bind(input.phone.flatten())
    .bind(has.then(|| a.line1.clone()))
    .bind(a.line2.clone())
    .bind(has.then(|| a.city.clone()))
    .bind(a.state.clone())
    .bind(a.postal_code.clone())
    .bind(has.then(|| a.country.clone()))
    .bind(input.tax_id.flatten())
    .bind(&status)
    .bind(&now)
    .execute(&mut *tx)
    .await;
    res?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("customer.created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("customer", &id)
            .meta(serde_json::json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, &id).await
}

/// Change a customer. A customer login may change its own contact details
/// but not its status.
pub async fn update(
    db: &Db,
    v: &Viewer,
    actor: &str,
    id: &str,
    input: CustomerInput,
) -> CoreResult<Customer> {
    let current = get(db, v, id).await?;
    if input.status.is_some() {
        v.require_operator("customers cannot change their own status")?;
    }
    let name = match &input.name {
        Some(n) => check_name(n)?,
        None => current.name.clone(),
    };
    let email = match &input.email {
        Some(e) => check_email(e)?,
        None => current.email.clone(),
    };
    let status = input.status.clone().unwrap_or(current.status.clone());
    if !STATUSES.contains(&status.as_str()) {
        return Err(field_error("status", "must be active, suspended or closed"));
    }
    let phone = input.phone.clone().unwrap_or(current.phone.clone());
    let tax_id = input.tax_id.clone().unwrap_or(current.tax_id.clone());
    let address = input.address.clone().unwrap_or(current.address.clone());
    if let Some(a) = &address {
        check_address(a)?;
    }
    let a = address.clone().unwrap_or_default();
    let has = address.is_some();
    let mut tx = db.begin_write().await?;
    let res = sqlx::query(
        "UPDATE customers SET name = $1, email = $2, phone = $3, address_line1 = $4, address_line2 = $5, \
         city = $6, state = $7, postal_code = $8, country = $9, tax_id = $10, status = $11, updated_at = $12 \
         WHERE id = $13 AND tenant_id = $14",
    )
    .bind(&name)
    .bind(&email)
    .bind(&phone)
    .bind(has.then(|| a.line1.clone()))
    .bind(a.line2.clone())
    .bind(has.then(|| a.city.clone()))
    .bind(a.state.clone())
    .bind(a.postal_code.clone())
    .bind(has.then(|| a.country.clone()))
    .bind(&tax_id)
    .bind(&status)
    .bind(clock::now())
    .bind(id)
    .bind(v.tenant())
    .execute(&mut *tx)
    .await;
    res?;
    let mut changed = Vec::new();
    for (f, set) in [
        ("name", input.name.is_some()),
        ("email", input.email.is_some()),
        ("phone", input.phone.is_some()),
        ("address", input.address.is_some()),
        ("taxId", input.tax_id.is_some()),
        ("status", input.status.is_some()),
    ] {
        if set {
            changed.push(f);
        }
    }
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("customer.updated")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("customer", id)
            .meta(serde_json::json!({ "fields": changed })),
    )
    .await?;
    tx.commit().await?;
    get(db, v, id).await
}

/// Give a customer a portal login (operators): an account with role
/// `customer`, the customer's email and `password`, linked to the customer.
pub async fn create_login(
    db: &Db,
    v: &Viewer,
    actor: &str,
    customer_id: &str,
    password: secrecy::SecretString,
) -> CoreResult<String> {
    v.require_operator("only operators give customers a login")?;
    let c = get(db, v, customer_id).await?;
    {
        use secrecy::ExposeSecret;
        crate::password::validate_new(password.expose_secret())?;
    }
    let hash = crate::password::hash(password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    let res = sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, customer_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'customer', $6, 'active', $7, $7)",
    )
    .bind(&id)
    .bind(v.tenant())
    .bind(&c.email)
    .bind(&c.name)
    .bind(&hash)
    .bind(&c.id)
    .bind(&now)
    .execute(&mut *tx)
    .await;
    res?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("customer.login_created")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("customer", &c.id)
            .meta(serde_json::json!({ "userId": id })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
