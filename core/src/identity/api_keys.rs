//! Tenant API keys: the `X-API-Key` credential of the tenant (container
//! sites) surface. A key belongs to a tenant, is made and revoked by that
//! tenant's admins (or on the command line), and is stored only as a hash.

use serde::Serialize;
use sqlx::Row;

use super::{
    tokens::{hash_token, random_token},
    Principal, Role, Scope, Via,
};
use crate::{
    audit::{self, NewEvent},
    clock, CoreError, CoreResult, Db,
};

/// A key as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

fn row_to_key(r: &sqlx::any::AnyRow) -> CoreResult<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// The tenant id for a tenant id or slug.
pub async fn resolve_tenant(db: &Db, id_or_slug: &str) -> CoreResult<String> {
    sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1 OR slug = $1")
        .bind(id_or_slug)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)
}

/// Make a key for `tenant_id`; returns it and the secret (shown once).
/// `actor` is who made it (None on the command line).
pub async fn create(
    db: &Db,
    tenant_id: &str,
    name: &str,
    actor: Option<&str>,
    ip: Option<String>,
) -> CoreResult<(ApiKey, String)> {
    let name = &crate::names::display("name", name, 100)?;
    let secret = random_token("mk_");
    let key = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_string(),
        name: name.to_string(),
        created_at: clock::now(),
        last_used_at: None,
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&key.tenant_id)
    .bind(&key.name)
    .bind(hash_token(&secret))
    .bind(actor)
    .bind(&key.created_at)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("api_key.created")
            .tenant(tenant_id)
            .actor(actor.map(str::to_string))
            .resource("api_key", &key.id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// The live keys of a tenant.
pub async fn list(db: &Db, tenant_id: &str) -> CoreResult<Vec<ApiKey>> {
    super::cache::flush_usage(db).await?;
    let rows = sqlx::query(
        "SELECT * FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_to_key).collect()
}

/// Revoke a key of `tenant_id`; any other is "not found".
pub async fn revoke(
    db: &Db,
    tenant_id: &str,
    id: &str,
    actor: Option<&str>,
    ip: Option<String>,
) -> CoreResult<()> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
    )
    .bind(clock::now())
    .bind(id)
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::NotFound);
    }
    audit::record_in(
        &mut tx,
        NewEvent::new("api_key.revoked")
            .tenant(tenant_id)
            .actor(actor.map(str::to_string))
            .resource("api_key", id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(())
}

/// A key's row as authentication needs it.
#[derive(Debug)]
struct KeyRow {
    id: String,
    tenant_id: String,
}

/// The principal a presented key stands for: the tenant itself, with full scope.
pub async fn authenticate(db: &Db, secret: &str) -> CoreResult<Option<Principal>> {
    use super::cache::Kind;
    let hash = hash_token(secret);
    let cache = db.auth();
    let key = match cache.get::<KeyRow>(Kind::Key, &hash) {
        Some(k) => k,
        None => {
            let ticket = cache.ticket();
            let row = sqlx::query(
                "SELECT id, tenant_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(db.pool())
            .await?;
            let Some(row) = row else { return Ok(None) };
            let k = std::sync::Arc::new(KeyRow {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
            });
            cache.put(ticket, Kind::Key, &hash, k.clone());
            k
        }
    };
    // Remembered in memory and written in batches (see `cache`).
    cache.note_use(super::cache::Used::Key, &key.id);
    Ok(Some(Principal {
        user_id: String::new(),
        tenant_id: key.tenant_id.clone(),
        role: Role::Admin,
        platform_admin: false,
        scope: Scope::Admin,
        via: Via::ApiKey,
    }))
}

fn actor(p: &Principal) -> Option<&str> {
    (!p.user_id.is_empty()).then_some(p.user_id.as_str())
}

/// [`create`] for the caller's tenant, if the caller is one of its admins.
pub async fn create_for(
    db: &Db,
    p: &Principal,
    name: &str,
    ip: Option<String>,
) -> CoreResult<(ApiKey, String)> {
    p.require_admin("only the tenant's admins manage API keys")?;
    p.require_not_key("create API keys")?;
    create(db, &p.tenant_id, name, actor(p), ip).await
}

/// [`list`] for the caller's tenant, if the caller is one of its admins.
pub async fn list_for(db: &Db, p: &Principal) -> CoreResult<Vec<ApiKey>> {
    p.require_admin("only the tenant's admins manage API keys")?;
    list(db, &p.tenant_id).await
}

/// [`revoke`] in the caller's tenant, if the caller is one of its admins.
pub async fn revoke_for(db: &Db, p: &Principal, id: &str, ip: Option<String>) -> CoreResult<()> {
    p.require_admin("only the tenant's admins manage API keys")?;
    revoke(db, &p.tenant_id, id, actor(p), ip).await
}
