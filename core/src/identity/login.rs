//! Signing in with email and password, throttled per account and per client.
//!
//! Failures are counted in the database (so several server processes share
//! the count) over a sliding window. An unknown email costs the same password
//! work as a known one, so timing does not tell which accounts exist.

use std::sync::OnceLock;

use secrecy::SecretString;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use super::{user_by_email, User};
use crate::{clock, password, users::normalize_email, CoreResult, Db};

/// How far back failures count.
pub const WINDOW: Duration = Duration::minutes(15);
/// Failures of one account within the window before it is locked.
pub const MAX_PER_ACCOUNT: i64 = 5;
/// Failures from one client address within the window before it is locked.
pub const MAX_PER_CLIENT: i64 = 20;

/// The result of a sign-in attempt.
#[derive(Debug)]
pub enum LoginOutcome {
    Ok(User),
    /// Wrong email or password (never says which), or a disabled account.
    Invalid,
    /// Too many failures: try again after this many seconds.
    Locked {
        retry_after_secs: u64,
    },
}

/// A hash to verify against when the account does not exist.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::{password_hash::SaltString, PasswordHasher};
        let salt = SaltString::encode_b64(b"mooring-dummy-salt").expect("static salt");
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(19_456, 2, 1, None).expect("static params"),
        )
        .hash_password(b"not a password anyone has", &salt)
        .expect("hash")
        .to_string()
    })
}

async fn seconds_locked(
    db: &Db,
    subject: &str,
    max: i64,
    now: OffsetDateTime,
) -> CoreResult<Option<u64>> {
    let since = clock::format(now - WINDOW);
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_failures WHERE subject = $1 AND at > $2",
    )
    .bind(subject)
    .bind(&since)
    .fetch_one(db.pool())
    .await?;
    let n: i64 = row.try_get("n")?;
    if n < max {
        return Ok(None);
    }
    let oldest: Option<String> = row.try_get("oldest")?;
    let unlock = oldest
        .as_deref()
        .and_then(clock::parse)
        .map(|t| t + WINDOW)
        .unwrap_or(now + WINDOW);
    Ok(Some((unlock - now).whole_seconds().max(1) as u64))
}

async fn record_failure(db: &Db, subject: &str, now: OffsetDateTime) -> CoreResult<()> {
    sqlx::query("INSERT INTO login_failures (id, subject, at) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(subject)
        .bind(clock::format(now))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Check an email and password, counting failures against the account and
/// the client address `ip`.
pub async fn attempt(
    db: &Db,
    email: &str,
    pw: SecretString,
    ip: Option<&str>,
) -> CoreResult<LoginOutcome> {
    let now = OffsetDateTime::now_utc();
    let email = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    let account = format!("account:{email}");
    let client = ip.map(|ip| format!("client:{ip}"));
    let mut locked = seconds_locked(db, &account, MAX_PER_ACCOUNT, now).await?;
    if let Some(client) = &client {
        if let Some(s) = seconds_locked(db, client, MAX_PER_CLIENT, now).await? {
            locked = Some(locked.map_or(s, |a| a.max(s)));
        }
    }
    if let Some(retry_after_secs) = locked {
        return Ok(LoginOutcome::Locked { retry_after_secs });
    }
    let user = user_by_email(db, &email).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let ok = password::verify(pw, hash).await?;
    match user {
        Some(u) if ok && u.active => {
            sqlx::query("DELETE FROM login_failures WHERE subject = $1")
                .bind(&account)
                .execute(db.pool())
                .await?;
            Ok(LoginOutcome::Ok(u))
        }
        _ => {
            record_failure(db, &account, now).await?;
            if let Some(client) = &client {
                record_failure(db, client, now).await?;
            }
            Ok(LoginOutcome::Invalid)
        }
    }
}
