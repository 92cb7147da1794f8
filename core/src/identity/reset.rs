//! Password reset by email: a single-use link that expires.
//!
//! Asking always answers the same, whether or not the address has an
//! account, so the form cannot be used to find accounts. Using the link sets
//! the new password and ends every session and refresh token of the account.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::{
    tokens::{hash_token, random_token},
    user_by_email,
};
use crate::{
    audit::{self, NewEvent},
    clock,
    mail::{Mail, Mailer},
    password, users, CoreError, CoreResult, Db,
};

/// How long a reset link works.
pub const LIFETIME: Duration = Duration::hours(1);
/// Links sent to one account per hour at most (more requests are dropped quietly).
pub const MAX_PER_HOUR: i64 = 3;

/// Ask for a reset link for `email`; `link_base` is where the reset page is
/// (`https://panel.example.com/reset-password`). Silent about unknown addresses.
pub async fn request(
    db: &Db,
    mailer: &Mailer,
    email: &str,
    link_base: &str,
    ip: Option<String>,
) -> CoreResult<()> {
    let Ok(email) = users::normalize_email(email) else {
        return Ok(());
    };
    let Some(user) = user_by_email(db, &email).await?.filter(|u| u.active) else {
        return Ok(());
    };
    let now = OffsetDateTime::now_utc();
    let token = random_token("");
    let mut tx = db.begin_write().await?;
    // Lock the account's row first (a write: PostgreSQL row lock, SQLite write
    // lock), so concurrent requests for one account count one after another.
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at > $2",
    )
    .bind(&user.id)
    .bind(clock::format(now - Duration::hours(1)))
    .fetch_one(&mut *tx)
    .await?;
    if recent >= MAX_PER_HOUR {
        tracing::warn!(user = %user.id, "password reset requests throttled");
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO password_resets (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&user.id)
    .bind(hash_token(&token))
    .bind(clock::format(now))
    .bind(clock::format(now + LIFETIME))
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("auth.password_reset_requested")
            .tenant(&user.tenant_id)
            .resource("user", &user.id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    let link = format!("{link_base}?token={token}");
    mailer
        .send(Mail {
            to: user.email.clone(),
            subject: "Reset your Mooring password".into(),
            text: format!(
                "Hello {name},\n\nSomeone (hopefully you) asked to reset the password of your Mooring account.\n\
                 Open this link within an hour to choose a new one:\n\n{link}\n\n\
                 If you did not ask for this, ignore this message: your password stays as it is.\n",
                name = user.name
            ),
            html: None,
        })
        .await?;
    Ok(())
}

/// Why a reset link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmError {
    /// Unknown, used or expired.
    InvalidToken,
}

/// Set a new password with a reset link's token.
pub async fn confirm(
    db: &Db,
    token: &str,
    new_password: SecretString,
    ip: Option<String>,
) -> CoreResult<Result<(), ConfirmError>> {
    password::validate_new(new_password.expose_secret())?;
    let row = sqlx::query(
        "SELECT id, user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1",
    )
    .bind(hash_token(token.trim()))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Err(ConfirmError::InvalidToken));
    };
    let id: String = row.try_get("id")?;
    let user_id: String = row.try_get("user_id")?;
    let expires: String = row.try_get("expires_at")?;
    let used: Option<String> = row.try_get("used_at")?;
    if used.is_some() || expires <= clock::now() {
        return Ok(Err(ConfirmError::InvalidToken));
    }
    let hash = password::hash(new_password).await?;
    // One transaction spends the link, sets the password, ends the account's
    // sessions and records it. Spend the link first: of two uses at once, one wins.
    let mut tx = db.begin_write().await?;
    let spent =
        sqlx::query("UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(clock::now())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    if spent.rows_affected() != 1 {
        return Ok(Err(ConfirmError::InvalidToken));
    }
    let changed = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(&hash)
    .bind(clock::now())
    .bind(&user_id)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() != 1 {
        return Err(CoreError::NotFound);
    }
    users::end_access_in(&mut tx, &user_id).await?;
    audit::record_in(
        &mut tx,
        NewEvent::new("auth.password_reset")
            .resource("user", &user_id)
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    db.auth().clear();
    Ok(Ok(()))
}
