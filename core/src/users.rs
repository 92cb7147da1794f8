//! Operator and customer accounts.

use secrecy::SecretString;
use sqlx::Row;

use crate::{clock, password, CoreError, CoreResult, Db, DEFAULT_TENANT_ID};

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Created { id: String },
    Reset { id: String },
}

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
        Err(CoreError::Invalid(format!(
            "'{}' is not an email address",
            raw.trim()
        )))
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
    let mut tx = db.pool().begin().await?;
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
