//! Personal access tokens and service tokens, with scopes `read | deploy | admin`.
//!
//! The secret is shown once, at creation; only its SHA-256 is stored. A
//! personal token acts as its owner (and dies with the account); a service
//! token belongs to the tenant and acts as the operator who made it, within
//! its scopes. `last_used_at` is kept to the minute.

use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use super::{
    tokens::{hash_token, random_token},
    Principal, Role, Scope, Via,
};
use crate::{
    audit::{self, NewEvent},
    clock, CoreError, CoreResult, Db,
};

/// Which kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Personal,
    Service,
}

impl Kind {
    pub fn parse(s: &str) -> CoreResult<Kind> {
        match s {
            "personal" => Ok(Kind::Personal),
            "service" => Ok(Kind::Service),
            _ => Err(crate::error::field_error(
                "kind",
                "must be `personal` or `service`",
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Personal => "personal",
            Kind::Service => "service",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::Personal => "mpat_",
            Kind::Service => "msvc_",
        }
    }
}

/// Parse a scope name.
pub fn parse_scope(s: &str) -> CoreResult<Scope> {
    match s {
        "read" => Ok(Scope::Read),
        "deploy" => Ok(Scope::Deploy),
        "admin" => Ok(Scope::Admin),
        other => Err(crate::error::field_error(
            "scopes",
            format!("unknown scope `{other}`: use read, deploy or admin"),
        )),
    }
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Read => "read",
        Scope::Deploy => "deploy",
        Scope::Admin => "admin",
    }
}

/// A token as listed (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessToken {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub scopes: Vec<&'static str>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// What a new token should be.
pub struct NewToken {
    pub name: String,
    pub kind: Kind,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<OffsetDateTime>,
}

impl NewToken {
    /// A token request as clients send it, API and form alike: `kind`
    /// `personal` or `service`, scopes by name, and an optional expiry, an
    /// RFC 3339 time or a date (the end of that day, UTC).
    pub fn parse(
        name: &str,
        kind: &str,
        scopes: &[&str],
        expires: Option<&str>,
    ) -> CoreResult<NewToken> {
        let scopes = scopes
            .iter()
            .map(|s| parse_scope(s))
            .collect::<CoreResult<Vec<_>>>()?;
        let expires_at = match expires.map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => Some(
                clock::parse(e)
                    .or_else(|| clock::parse(&format!("{e}T23:59:59Z")))
                    .ok_or_else(|| {
                        crate::error::field_error(
                            "expires_at",
                            "must be a date (2027-01-31) or an RFC 3339 time",
                        )
                    })?,
            ),
        };
        Ok(NewToken {
            name: name.to_string(),
            kind: Kind::parse(kind)?,
            scopes,
            expires_at,
        })
    }
}

fn row_to_token(r: &sqlx::any::AnyRow) -> CoreResult<AccessToken> {
    let scopes: String = r.try_get("scopes")?;
    Ok(AccessToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: Kind::parse(&r.try_get::<String, _>("kind")?)?,
        scopes: scopes
            .split(',')
            .filter_map(|s| parse_scope(s).ok())
            .map(scope_name)
            .collect(),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

/// Create a token for `caller`; returns it with the secret (shown once).
pub async fn create(
    db: &Db,
    caller: &Principal,
    new: NewToken,
    ip: Option<String>,
) -> CoreResult<(AccessToken, String)> {
    caller.require_not_key("create access tokens")?;
    let name = &crate::names::display("name", &new.name, 100)?;
    let mut scopes = new.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let Some(&top) = scopes.last() else {
        return Err(crate::error::field_error(
            "scopes",
            "must name at least one scope",
        ));
    };
    // A token can never do more than the credential that makes it.
    if top > caller.scope {
        return Err(CoreError::Forbidden(
            "a token cannot have more scope than the credential creating it".into(),
        ));
    }
    if new.kind == Kind::Personal && caller.via == Via::Bootstrap {
        return Err(crate::error::field_error(
            "kind",
            "no account exists yet: create a service token, or sign in first",
        ));
    }
    if new.kind == Kind::Service && caller.role != Role::Admin {
        return Err(CoreError::Forbidden(
            "only admins create service tokens".into(),
        ));
    }
    if let Some(exp) = new.expires_at {
        if exp <= OffsetDateTime::now_utc() {
            return Err(crate::error::field_error(
                "expires_at",
                "must be in the future",
            ));
        }
    }
    let secret = random_token(new.kind.prefix());
    let token = AccessToken {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        kind: new.kind,
        scopes: scopes.iter().copied().map(scope_name).collect(),
        created_at: clock::now(),
        expires_at: new.expires_at.map(clock::format),
        last_used_at: None,
    };
    let owner = (new.kind == Kind::Personal).then(|| caller.user_id.clone());
    let creator = (!caller.user_id.is_empty()).then(|| caller.user_id.clone());
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO access_tokens (id, tenant_id, user_id, created_by, name, kind, scopes, \
         token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&token.id)
    .bind(&caller.tenant_id)
    .bind(&owner)
    .bind(&creator)
    .bind(&token.name)
    .bind(new.kind.as_str())
    .bind(token.scopes.join(","))
    .bind(hash_token(&secret))
    .bind(&token.created_at)
    .bind(&token.expires_at)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("token.created")
            .tenant(&caller.tenant_id)
            .actor(creator.clone())
            .resource("access_token", &token.id)
            .meta(serde_json::json!({ "kind": new.kind.as_str(), "scopes": token.scopes }))
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// Tokens `caller` may see: its own personal tokens, and (admins) the
/// tenant's service tokens. Revoked tokens are not listed.
pub async fn list(db: &Db, caller: &Principal) -> CoreResult<Vec<AccessToken>> {
    super::cache::flush_usage(db).await?;
    let rows = sqlx::query(
        "SELECT * FROM access_tokens WHERE tenant_id = $1 AND revoked_at IS NULL \
         AND (user_id = $2 OR (kind = 'service' AND $3 = 1)) ORDER BY created_at, id",
    )
    .bind(&caller.tenant_id)
    .bind(&caller.user_id)
    .bind(i64::from(caller.role == Role::Admin))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_to_token).collect()
}

/// Revoke a token `caller` may see; another tenant's or another user's is "not found".
pub async fn revoke(db: &Db, caller: &Principal, id: &str, ip: Option<String>) -> CoreResult<()> {
    let visible = list(db, caller).await?.into_iter().any(|t| t.id == id);
    if !visible {
        return Err(CoreError::NotFound);
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE access_tokens SET revoked_at = $1 WHERE tenant_id = $3 AND id = $2 AND revoked_at IS NULL")
        .bind(clock::now())
        .bind(id)
        .bind(&caller.tenant_id)
        .execute(&mut *tx)
        .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("token.revoked")
            .tenant(&caller.tenant_id)
            .actor(Some(caller.user_id.clone()))
            .resource("access_token", id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(())
}

/// A token's row as authentication needs it.
#[derive(Debug)]
struct TokenRow {
    id: String,
    tenant_id: String,
    /// Who it acts as: its owner (personal) or its creator (service).
    acting: Option<String>,
    scope: Scope,
    expires_at: Option<String>,
    revoked: bool,
}

async fn token_row(db: &Db, hash: &str) -> CoreResult<Option<std::sync::Arc<TokenRow>>> {
    use super::cache::Kind;
    let cache = db.auth();
    if let Some(t) = cache.get::<TokenRow>(Kind::Token, hash) {
        return Ok(Some(t));
    }
    let ticket = cache.ticket();
    let row = sqlx::query(
        "SELECT id, tenant_id, user_id, created_by, scopes, expires_at, revoked_at \
         FROM access_tokens WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let scopes: String = row.try_get("scopes")?;
    let t = std::sync::Arc::new(TokenRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        acting: row
            .try_get::<Option<String>, _>("user_id")?
            .or(row.try_get("created_by")?),
        scope: scopes
            .split(',')
            .filter_map(|s| parse_scope(s).ok())
            .max()
            .unwrap_or(Scope::Read),
        expires_at: row.try_get("expires_at")?,
        revoked: row.try_get::<Option<String>, _>("revoked_at")?.is_some(),
    });
    cache.put(ticket, Kind::Token, hash, t.clone());
    Ok(Some(t))
}

/// The principal a presented token stands for, if it is live.
pub async fn authenticate(db: &Db, secret: &str) -> CoreResult<Option<Principal>> {
    let Some(t) = token_row(db, &hash_token(secret)).await? else {
        return Ok(None);
    };
    let now = clock::now();
    if t.revoked || t.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
        return Ok(None);
    }
    let mut principal = match &t.acting {
        // A personal token acts as its owner; a service token as its creator.
        Some(id) => match super::cached_user(db, id).await? {
            Some(user) if user.active => Principal::for_user(&user, Via::AccessToken, t.scope),
            _ => return Ok(None),
        },
        // A service token made in bootstrap mode acts for the tenant itself.
        None => Principal {
            user_id: String::new(),
            tenant_id: t.tenant_id.clone(),
            role: Role::Admin,
            platform_admin: false,
            scope: t.scope,
            via: Via::AccessToken,
        },
    };
    principal.tenant_id = t.tenant_id.clone();
    // Remembered in memory and written in batches (see `cache`).
    db.auth().note_use(super::cache::Used::Token, &t.id);
    Ok(Some(principal))
}

/// Whether any token exists (the rustploy bootstrap rule).
pub async fn any_exist(db: &Db) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}
