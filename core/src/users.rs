//! Operator and customer accounts.

use secrecy::SecretString;
use sqlx::Row;

use crate::paging::TOTAL;
use crate::{clock, password, CoreError, CoreResult, Db, DEFAULT_TENANT_ID};

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Created { id: String },
    Reset { id: String },
}

/// Why an account cannot lose its admin role, be disabled or be deleted:
/// it is its tenant's last active admin (a [`CoreError::Conflict`]).
pub const LAST_ADMIN: &str = "this is the tenant's last active admin";

/// Normalize and check an email address: trimmed, lower-case, one `@` with
/// text on both sides and a dot in the domain, no spaces.
pub fn normalize_email(raw: &str) -> CoreResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && (domain.contains('.') || domain == "localhost")
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(crate::error::field_error(
            "email",
            format!("'{}' is not an email address", raw.trim()),
        ))
    }
}

/// Create the platform admin with `email`, or reset that account's password
/// (and re-enable it as a platform admin) if it exists.
pub async fn ensure_admin(db: &Db, email: &str, pw: SecretString) -> CoreResult<AdminOutcome> {
    let email = normalize_email(email)?;
    {
        use secrecy::ExposeSecret;
        password::validate_new(pw.expose_secret())?;
    }
    let hash = password::hash(pw).await?;
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    let outcome = match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            sqlx::query(
                "UPDATE users SET password_hash = $1, role = 'admin', is_platform_admin = $2, \
                 status = 'active', updated_at = $3 WHERE id = $4",
            )
            .bind(&hash)
            .bind(crate::db::flag(true))
            .bind(&now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            // A new password ends every way in the old one opened.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(&now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            AdminOutcome::Reset { id }
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, name, password_hash, role, \
                 is_platform_admin, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'admin', $6, 'active', $7, $8)",
            )
            .bind(&id)
            .bind(DEFAULT_TENANT_ID)
            .bind(&email)
            .bind("Administrator")
            .bind(&hash)
            .bind(crate::db::flag(true))
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            AdminOutcome::Created { id }
        }
    };
    tx.commit().await?;
    db.auth().clear();
    Ok(outcome)
}

/// How many accounts exist (bootstrap mode is "none yet").
pub async fn count(db: &Db) -> CoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await?)
}

/// The stored password hash of an account, for verification.
pub async fn password_hash_of(db: &Db, email: &str) -> CoreResult<Option<String>> {
    let email = normalize_email(email)?;
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(db.pool())
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Admin@Example.COM ").unwrap(),
            "admin@example.com"
        );
        assert_eq!(
            normalize_email("admin@localhost").unwrap(),
            "admin@localhost"
        );
        for bad in [
            "", "a", "a@", "@b.c", "a b@c.d", "a@b", "a@.b", "a@b.", "a@@b.c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }
}

/// An account as the mpanel users API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub status: String,
    pub customer_id: Option<String>,
    pub created_at: String,
}

fn row_to_view(r: &sqlx::any::AnyRow) -> CoreResult<UserView> {
    Ok(UserView {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        roles: vec![r.try_get("role")?],
        status: r.try_get("status")?,
        customer_id: r.try_get("customer_id")?,
        created_at: r.try_get("created_at")?,
    })
}

const VIEW_COLUMNS: &str = "id, tenant_id, name, email, role, status, customer_id, created_at";

use crate::{
    audit::{self, NewEvent},
    identity::{Principal, Role},
    paging::Page,
};

/// Accounts the caller may see: its tenant's (platform admins: every tenant's).
pub async fn list(db: &Db, p: &Principal, page: Page) -> CoreResult<(Vec<UserView>, i64)> {
    p.require_operator("operators only")?;
    let all = i64::from(p.platform_admin);
    let rows = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS}, {TOTAL} FROM users WHERE (tenant_id = $1 OR $2 = 1) \
         ORDER BY created_at, id LIMIT $3 OFFSET $4"
    ))
    .bind(&p.tenant_id)
    .bind(all)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE (tenant_id = $1 OR $2 = 1)")
            .bind(&p.tenant_id)
            .bind(all)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_view).collect::<CoreResult<_>>()?,
        total,
    ))
}

/// One account; another tenant's is "not found".
pub async fn get(db: &Db, p: &Principal, id: &str) -> CoreResult<UserView> {
    p.require_operator("operators only")?;
    let row = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM users WHERE id = $1 AND (tenant_id = $2 OR $3 = 1)"
    ))
    .bind(id)
    .bind(&p.tenant_id)
    .bind(i64::from(p.platform_admin))
    .fetch_optional(db.pool())
    .await?
    .ok_or(CoreError::NotFound)?;
    row_to_view(&row)
}

/// What an account should become; `None` keeps a field.
#[derive(Debug, Default)]
pub struct UserChange {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub status: Option<String>,
    pub password: Option<SecretString>,
}

fn check_name(name: &str) -> CoreResult<String> {
    crate::names::display("name", name, 200)
}

fn check_status(s: &str) -> CoreResult<()> {
    match s {
        "active" | "disabled" => Ok(()),
        _ => Err(crate::error::field_error(
            "status",
            "must be active or disabled",
        )),
    }
}

fn customer_not_yet() -> CoreError {
    crate::error::field_error(
        "roles",
        "customer logins are created with their customer record (billing); create operators here",
    )
}

/// A new account.
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub status: Option<String>,
    pub password: SecretString,
}

/// Create an operator account in the caller's tenant.
pub async fn create(
    db: &Db,
    p: &Principal,
    new: NewUser,
    ip: Option<String>,
) -> CoreResult<UserView> {
    p.require_admin("only admins manage accounts")?;
    p.require_not_key("create accounts")?;
    let name = check_name(&new.name)?;
    let email = normalize_email(&new.email)?;
    let role = new.role;
    if role == Role::Customer {
        return Err(customer_not_yet());
    }
    let status = new.status.as_deref().unwrap_or("active");
    check_status(status)?;
    {
        use secrecy::ExposeSecret;
        password::validate_new(new.password.expose_secret())?;
    }
    let hash = password::hash(new.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(&p.tenant_id)
    .bind(&email)
    .bind(&name)
    .bind(&hash)
    .bind(role.as_str())
    .bind(status)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("user.created")
            .tenant(&p.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("user", &id)
            .meta(serde_json::json!({ "role": role.as_str() }))
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    get(db, p, &id).await
}

async fn active_admins(db: &Db, tenant: &str) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'admin' AND status = 'active'",
    )
    .bind(tenant)
    .fetch_one(db.pool())
    .await?)
}

/// End every way in an account has: sessions and refresh tokens.
pub async fn end_access(db: &Db, user_id: &str) -> CoreResult<()> {
    let mut tx = db.begin_write().await?;
    end_access_in(&mut tx, user_id).await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(())
}

/// [`end_access`] on `conn`, in the transaction of the change that calls for it.
pub async fn end_access_in(conn: &mut sqlx::AnyConnection, user_id: &str) -> CoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(clock::now())
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Change an account of the caller's tenant.
pub async fn update(
    db: &Db,
    p: &Principal,
    id: &str,
    change: UserChange,
    ip: Option<String>,
) -> CoreResult<UserView> {
    p.require_admin("only admins manage accounts")?;
    if change.email.is_some() || change.role.is_some() || change.password.is_some() {
        p.require_not_key("set an account's email, role or password")?;
    }
    let before = get(db, p, id).await?;
    let was_admin =
        before.roles.first().map(String::as_str) == Some("admin") && before.status == "active";
    if change.role == Some(Role::Customer)
        && before.roles.first().map(String::as_str) != Some("customer")
    {
        return Err(customer_not_yet());
    }
    let stays_admin = change.role.map_or(was_admin, |r| r == Role::Admin)
        && change.status.as_deref().is_none_or(|s| s == "active");
    if was_admin && !stays_admin && active_admins(db, &before.tenant_id).await? <= 1 {
        return Err(CoreError::Conflict(LAST_ADMIN.into()));
    }
    let name = change.name.as_deref().map(check_name).transpose()?;
    let email = change.email.as_deref().map(normalize_email).transpose()?;
    if let Some(s) = &change.status {
        check_status(s)?;
    }
    let hash = match change.password {
        Some(pw) => {
            {
                use secrecy::ExposeSecret;
                password::validate_new(pw.expose_secret())?;
            }
            Some(password::hash(pw).await?)
        }
        None => None,
    };
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE users SET name = COALESCE($1, name), email = COALESCE($2, email), \
         role = COALESCE($3, role), status = COALESCE($4, status), \
         password_hash = COALESCE($5, password_hash), updated_at = $6 WHERE id = $7",
    )
    .bind(&name)
    .bind(&email)
    .bind(change.role.map(|r| r.as_str()))
    .bind(&change.status)
    .bind(&hash)
    .bind(&now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // A new password or a disabled account ends every session the old state opened.
    if hash.is_some() || change.status.as_deref() == Some("disabled") {
        end_access_in(&mut tx, id).await?;
    }
    audit::record_in(
        &mut tx,
        NewEvent::new("user.updated")
            .tenant(&before.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("user", id)
            .meta(serde_json::json!({
                "name": name.is_some(), "email": email.is_some(), "role": change.role.map(|r| r.as_str()),
                "status": change.status, "password": hash.is_some(),
            }))
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    get(db, p, id).await
}

/// Delete an account of the caller's tenant (never one's own, never the last admin).
pub async fn delete(db: &Db, p: &Principal, id: &str, ip: Option<String>) -> CoreResult<()> {
    p.require_admin("only admins manage accounts")?;
    let before = get(db, p, id).await?;
    if before.id == p.user_id {
        return Err(CoreError::Conflict(
            "you cannot delete your own account".into(),
        ));
    }
    if before.roles.first().map(String::as_str) == Some("admin")
        && before.status == "active"
        && active_admins(db, &before.tenant_id).await? <= 1
    {
        return Err(CoreError::Conflict(LAST_ADMIN.into()));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("user.deleted")
            .tenant(&before.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("user", id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(())
}

/// Why changing one's own password failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnPasswordError {
    WrongCurrent,
}

/// Change one's own password: the current one must match. Ends every session
/// and refresh token of the account (the caller starts a fresh session).
pub async fn change_own_password(
    db: &Db,
    user_id: &str,
    current: SecretString,
    new: SecretString,
    ip: Option<String>,
) -> CoreResult<Result<(), OwnPasswordError>> {
    use secrecy::ExposeSecret;
    let user = crate::identity::user_by_id(db, user_id)
        .await?
        .ok_or(CoreError::NotFound)?;
    if !password::verify(current, user.password_hash.clone()).await? {
        return Ok(Err(OwnPasswordError::WrongCurrent));
    }
    password::validate_new(new.expose_secret())?;
    let hash = password::hash(new).await?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(&hash)
        .bind(clock::now())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    end_access_in(&mut tx, user_id).await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("user.password_changed")
            .tenant(&user.tenant_id)
            .actor(Some(user_id.to_string()))
            .resource("user", user_id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(Ok(()))
}

/// End every session of an account of the caller's tenant (tenant admins).
pub async fn end_sessions_of(
    db: &Db,
    p: &Principal,
    id: &str,
    ip: Option<String>,
) -> CoreResult<()> {
    p.require_admin("only admins manage accounts")?;
    let u = get(db, p, id).await?;
    let mut tx = db.begin_write().await?;
    end_access_in(&mut tx, &u.id).await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("user.sessions_ended")
            .tenant(&u.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("user", &u.id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(())
}
