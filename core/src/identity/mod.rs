//! Identity: who is calling, and what they may do.
//!
//! Every way in (session cookie, JWT, access token, API key) ends as one
//! [`Principal`]; authorization is checked against it, never against the scheme.

pub mod access_tokens;
pub mod api_keys;
pub mod cache;
pub mod login;
pub mod refresh;
pub mod reset;
pub mod session_store;
pub mod tokens;

use serde::Serialize;
use sqlx::Row;

use crate::{db::is_set, CoreError, CoreResult, Db};

/// What an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Staff,
    Customer,
}

impl Role {
    pub fn parse(s: &str) -> CoreResult<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "staff" => Ok(Role::Staff),
            "customer" => Ok(Role::Customer),
            other => Err(CoreError::Internal(format!(
                "unknown role {other:?} stored"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Customer => "customer",
        }
    }
}

/// How much a credential may do, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Safe methods only.
    Read,
    /// Also deploy and rollback.
    Deploy,
    /// Everything the account's role allows.
    Admin,
}

/// Which credential a request came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Session,
    Jwt,
    AccessToken,
    ApiKey,
    /// Nobody exists yet: the rustploy bootstrap rule opens privileged routes.
    Bootstrap,
}

/// The caller of a request, whatever credential it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub tenant_id: String,
    pub role: Role,
    /// Operator of the whole installation (sees every tenant).
    pub platform_admin: bool,
    /// The most the credential allows (sessions and JWTs: `Admin`).
    pub scope: Scope,
    pub via: Via,
}

impl Principal {
    pub fn for_user(user: &User, via: Via, scope: Scope) -> Principal {
        Principal {
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            role: user.role,
            platform_admin: user.platform_admin,
            scope,
            via,
        }
    }

    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Staff)
    }

    /// Refuse (`Forbidden`, saying `why`) unless an operator (admin or staff).
    pub fn require_operator(&self, why: &str) -> CoreResult<()> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(CoreError::Forbidden(why.into()))
        }
    }

    /// Refuse (`Forbidden`, saying `why`) unless an admin of its tenant.
    pub fn require_admin(&self, why: &str) -> CoreResult<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(CoreError::Forbidden(why.into()))
        }
    }

    /// Refuse when the caller is an API key: keys cannot mint credentials
    /// (tokens, keys, accounts, tenants) or set anyone's password, email or
    /// role, so nothing a key made outlives its revocation.
    pub fn require_not_key(&self, what: &str) -> CoreResult<()> {
        if self.via == Via::ApiKey {
            Err(CoreError::Forbidden(format!(
                "API keys cannot {what}; sign in or use an access token"
            )))
        } else {
            Ok(())
        }
    }

    /// Refuse (`Forbidden`, saying `why`) unless an operator of the whole installation.
    pub fn require_platform_admin(&self, why: &str) -> CoreResult<()> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(CoreError::Forbidden(why.into()))
        }
    }
}

/// An account as identity needs it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub platform_admin: bool,
    pub active: bool,
    /// The customer record a customer's login acts for.
    #[serde(skip)]
    pub customer_id: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
}

/// Everything but the password hash.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("platform_admin", &self.platform_admin)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

fn row_to_user(r: &sqlx::any::AnyRow) -> CoreResult<User> {
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&r.try_get::<String, _>("role")?)?,
        platform_admin: is_set(r.try_get("is_platform_admin")?),
        active: r.try_get::<String, _>("status")? == "active",
        customer_id: r.try_get("customer_id")?,
        password_hash: r.try_get("password_hash")?,
    })
}

const USER_COLUMNS: &str =
    "id, tenant_id, email, name, role, is_platform_admin, status, customer_id, password_hash";

/// The account with this id.
pub async fn user_by_id(db: &Db, id: &str) -> CoreResult<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(row_to_user).transpose()
}

/// The account with this id as authentication needs it (no password hash),
/// from the identity cache when it holds it.
pub async fn cached_user(db: &Db, id: &str) -> CoreResult<Option<std::sync::Arc<User>>> {
    use cache::Kind;
    let cache = db.auth();
    if let Some(u) = cache.get::<User>(Kind::User, id) {
        return Ok(Some(u));
    }
    let ticket = cache.ticket();
    let Some(mut user) = user_by_id(db, id).await? else {
        return Ok(None);
    };
    user.password_hash = String::new();
    let user = std::sync::Arc::new(user);
    cache.put(ticket, Kind::User, id, user.clone());
    Ok(Some(user))
}

/// The account with this (normalized) email.
pub async fn user_by_email(db: &Db, email: &str) -> CoreResult<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(row_to_user).transpose()
}
