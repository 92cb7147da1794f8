//! mpanel refresh tokens: opaque, single use, rotated on every refresh.
//!
//! Each sign-in starts a family. Refreshing spends the token and issues the
//! next one in the family. Presenting a spent token means it was copied: the
//! whole family is revoked, so the thief's and the owner's next refresh fail.

use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::tokens::{hash_token, random_token};
use crate::{clock, CoreResult, Db};

/// How long a refresh token lives.
pub const LIFETIME: Duration = Duration::days(30);

/// Why a refresh was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Spent before: the family is now revoked.
    Reused,
}

/// Start a family for `user_id`; returns the token to hand out.
pub async fn issue(db: &Db, user_id: &str) -> CoreResult<String> {
    insert(db, user_id, &uuid::Uuid::new_v4().to_string()).await
}

async fn insert(db: &Db, user_id: &str, family: &str) -> CoreResult<String> {
    let token = random_token("mrt_");
    let now = OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(hash_token(&token))
    .bind(family)
    .bind(user_id)
    .bind(clock::format(now))
    .bind(clock::format(now + LIFETIME))
    .execute(db.pool())
    .await?;
    Ok(token)
}

/// Spend `token` and issue the next one: `(user_id, new token)`.
pub async fn rotate(db: &Db, token: &str) -> CoreResult<Result<(String, String), RefreshError>> {
    let now = clock::now();
    let row = sqlx::query(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens \
         WHERE token_hash = $1",
    )
    .bind(hash_token(token))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(Err(RefreshError::Invalid));
    };
    let id: String = row.try_get("id")?;
    let family: String = row.try_get("family_id")?;
    let user_id: String = row.try_get("user_id")?;
    let expires_at: String = row.try_get("expires_at")?;
    let used_at: Option<String> = row.try_get("used_at")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Err(RefreshError::Invalid));
    }
    if used_at.is_some() {
        revoke_family(db, &family).await?;
        return Ok(Err(RefreshError::Reused));
    }
    // Spend it only if nobody else did in the meantime: of two concurrent
    // refreshes with one token, one wins and the other counts as reuse.
    let spent =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(&now)
            .bind(&id)
            .execute(db.pool())
            .await?;
    if spent.rows_affected() != 1 {
        revoke_family(db, &family).await?;
        return Ok(Err(RefreshError::Reused));
    }
    let next = insert(db, &user_id, &family).await?;
    Ok(Ok((user_id, next)))
}

/// Revoke every token of a family.
pub async fn revoke_family(db: &Db, family: &str) -> CoreResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(clock::now())
    .bind(family)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Revoke every refresh token of a user (password change, disable).
pub async fn revoke_user(db: &Db, user_id: &str) -> CoreResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(clock::now())
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok(())
}
