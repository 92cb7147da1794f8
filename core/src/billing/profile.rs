//! The seller's billing profile: the legal name, address, tax id and
//! contact a tenant's invoices are issued under. Each invoice keeps a copy
//! as it was when issued (`bill_from`), like the customer's `bill_to`.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::{customers::Address, Viewer};
use crate::{audit, clock, error::field_error, CoreError, CoreResult, Db};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The name invoices are issued under (defaults to the tenant's name).
    pub legal_name: String,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// What an admin may send; absent fields are cleared.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileInput {
    pub legal_name: Option<String>,
    pub address: Option<Address>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

/// The profile of `tenant` on a connection (the tenant's name when unset).
pub(crate) async fn load(conn: &mut AnyConnection, tenant: &str) -> CoreResult<Profile> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, billing_profile FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?;
    let (name, stored) = row.ok_or(CoreError::NotFound)?;
    let mut p: Profile = stored
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    if p.legal_name.is_empty() {
        p.legal_name = name;
    }
    Ok(p)
}

/// The viewer's tenant's profile (operators).
pub async fn get(db: &Db, v: &Viewer) -> CoreResult<Profile> {
    v.require_operator("only operators see the billing profile")?;
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, v.tenant()).await
}

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Replace the profile (tenant admins). New invoices carry it; issued ones
/// keep what they were issued with.
pub async fn set(db: &Db, v: &Viewer, actor: &str, input: ProfileInput) -> CoreResult<Profile> {
    v.require_admin("only admins change the billing profile")?;
    let legal_name = trimmed(input.legal_name).unwrap_or_default();
    if legal_name.chars().count() > 200 {
        return Err(field_error("legalName", "must be at most 200 characters"));
    }
    if let Some(a) = &input.address {
        super::customers::check_address(a)?;
    }
    let tax_id = trimmed(input.tax_id);
    if tax_id.as_ref().is_some_and(|t| t.len() > 64) {
        return Err(field_error("taxId", "must be at most 64 characters"));
    }
    let email = match trimmed(input.email) {
        Some(e) => Some(crate::users::normalize_email(&e)?),
        None => None,
    };
    let p = Profile {
        legal_name,
        address: input.address,
        tax_id,
        email,
    };
    let stored = serde_json::to_string(&p)
        .map_err(|e| CoreError::Internal(format!("billing profile: {e}")))?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE tenants SET billing_profile = $1, updated_at = $2 WHERE id = $3")
        .bind(stored)
        .bind(clock::now())
        .bind(v.tenant())
        .execute(&mut *tx)
        .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("billing.profile_updated")
            .tenant(v.tenant())
            .actor(Some(actor.to_string()))
            .resource("tenant", v.tenant()),
    )
    .await?;
    tx.commit().await?;
    get(db, v).await
}
