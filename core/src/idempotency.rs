//! Idempotent creates, the way Stripe does them.
//!
//! A client that sends a create request with an `Idempotency-Key` and loses
//! the answer sends it again with the same key; the second request must not
//! create a second order. Before the request runs, its key is claimed in
//! `idempotency_keys` (per tenant and credential) with one
//! `INSERT … ON CONFLICT DO NOTHING`, together with a fingerprint of the
//! request (method, path, body). Then:
//!
//! - the first request gets [`Begin::Fresh`] and a [`Guard`]; its answer is
//!   stored with [`complete`] (also 4xx answers: the same request would be
//!   refused the same way), or the claim is dropped with [`abandon`] when it
//!   failed on our side (5xx, a panic), so a retry runs it again;
//! - the same key with the same request gets the stored answer
//!   ([`Begin::Replay`]), the same key with another request is refused
//!   ([`Begin::Mismatch`]), and a duplicate that arrives while the first still
//!   runs gets [`Begin::InProgress`] (wait and ask again, or answer 409);
//! - a claim whose holder died (the process crashed) is taken over once its
//!   lease ([`LEASE`]) runs out; a live holder renews it ([`Guard::renew`]).
//!   Completion is fenced on the claim, so a holder that lost it stores nothing.
//!
//! Keys live [`TTL`] (24 hours): an older key is a new key, and the scheduled
//! `idempotency.sweep` job ([`schedule`], [`Sweep`]) deletes them.

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

use crate::{
    clock,
    error::field_error,
    identity::tokens::hash_token,
    jobs::{schedule::NewSchedule, JobContext, JobError, JobHandler, Target},
    CoreResult, Db,
};

/// How long a key and its answer are kept.
pub const TTL: Duration = Duration::hours(24);
/// How long an unfinished claim holds before another request may take it over.
pub const LEASE: Duration = Duration::seconds(60);
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// The job that deletes expired keys.
pub const SWEEP_KIND: &str = "idempotency.sweep";
/// The name of its schedule.
pub const SWEEP_SCHEDULE: &str = "idempotency-sweep";

/// Whose keys: a key is only ever compared with keys of the same tenant and
/// credential (`user:<id>`, `token:<id>`, `key:<id>`, `bootstrap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant_id: String,
    pub owner: String,
}

/// An answer as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Begin {
    /// The key is this request's: run it, then [`complete`] or [`abandon`].
    Fresh(Guard),
    /// The request already ran: answer this again.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// A claimed key. Dropped without [`complete`] or [`abandon`] (a panic, a
/// cancelled future) it is abandoned in the background.
#[derive(Debug)]
pub struct Guard {
    db: Db,
    scope: Scope,
    key: String,
    lease: String,
    settled: bool,
}

/// Check a key: 1 to 255 printable ASCII characters.
pub fn validate_key(key: &str) -> CoreResult<()> {
    if key.is_empty() {
        return Err(field_error("Idempotency-Key", "must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(field_error(
            "Idempotency-Key",
            format!("must be at most {MAX_KEY_LEN} characters"),
        ));
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(field_error(
            "Idempotency-Key",
            "must be printable ASCII characters (a UUID is a good key)",
        ));
    }
    Ok(())
}

/// The fingerprint of a request: SHA-256 (hex) of its method, path (with
/// query) and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.to_ascii_uppercase().as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Claim `key` for a request with `fingerprint`, now.
pub async fn begin(db: &Db, scope: &Scope, key: &str, fingerprint: &str) -> CoreResult<Begin> {
    begin_at(db, scope, key, fingerprint, OffsetDateTime::now_utc()).await
}

/// [`begin`] as if it were `now` (tests move time).
pub async fn begin_at(
    db: &Db,
    scope: &Scope,
    key: &str,
    fingerprint: &str,
    now: OffsetDateTime,
) -> CoreResult<Begin> {
    validate_key(key)?;
    let now_s = clock::format(now);
    let expired_before = clock::format(now - TTL);
    let locked_until = clock::format(now + LEASE);
    // A row can change between the claim and the read (completed, abandoned,
    // swept, taken over): look again, a few times.
    for _ in 0..5 {
        let lease = uuid::Uuid::new_v4().to_string();
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, owner, idem_key, fingerprint, state, lease, \
             locked_until, body_base64, created_at) VALUES ($1, $2, $3, $4, 'in_progress', $5, $6, 0, $7) \
             ON CONFLICT (tenant_id, owner, idem_key) DO NOTHING",
        )
        .bind(&scope.tenant_id)
        .bind(&scope.owner)
        .bind(key)
        .bind(fingerprint)
        .bind(&lease)
        .bind(&locked_until)
        .bind(&now_s)
        .execute(db.pool())
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(Begin::Fresh(Guard::new(db, scope, key, lease)));
        }
        let Some(row) = sqlx::query(
            "SELECT fingerprint, state, lease, locked_until, created_at, status, headers, body, body_base64 \
             FROM idempotency_keys WHERE tenant_id = $1 AND owner = $2 AND idem_key = $3",
        )
        .bind(&scope.tenant_id)
        .bind(&scope.owner)
        .bind(key)
        .fetch_optional(db.pool())
        .await?
        else {
            continue;
        };
        let stored_fp: String = row.try_get("fingerprint")?;
        let state: String = row.try_get("state")?;
        let old_lease: String = row.try_get("lease")?;
        let row_locked: String = row.try_get("locked_until")?;
        let created: String = row.try_get("created_at")?;
        let running = state == "in_progress" && row_locked.as_str() > now_s.as_str();
        let expired = created.as_str() < expired_before.as_str();
        // An old key is a new key (the sweep had not come by yet); a fresh
        // one answers for its first request.
        if !expired || running {
            if stored_fp != fingerprint {
                return Ok(Begin::Mismatch);
            }
            if state == "done" {
                let status: Option<i64> = row.try_get("status")?;
                let headers: Option<String> = row.try_get("headers")?;
                let body: Option<String> = row.try_get("body")?;
                let base64: i64 = row.try_get("body_base64")?;
                let body = body.unwrap_or_default();
                return Ok(Begin::Replay(StoredResponse {
                    status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                    headers: headers
                        .as_deref()
                        .and_then(|h| serde_json::from_str(h).ok())
                        .unwrap_or_default(),
                    body: if crate::db::is_set(base64) {
                        B64.decode(body.as_bytes()).map_err(|e| {
                            crate::CoreError::Internal(format!("stored idempotent answer: {e}"))
                        })?
                    } else {
                        body.into_bytes()
                    },
                }));
            }
            if running {
                return Ok(Begin::InProgress);
            }
            // The holder died (its lease ran out): the request runs again.
        }
        let took = take_over(
            db,
            scope,
            key,
            &old_lease,
            fingerprint,
            &lease,
            &locked_until,
            &now_s,
        )
        .await?;
        if took {
            return Ok(Begin::Fresh(Guard::new(db, scope, key, lease)));
        }
    }
    Ok(Begin::InProgress)
}

/// Take a key over from the claim `old_lease` (compare-and-set): a fresh
/// claim for this request.
#[allow(clippy::too_many_arguments)]
async fn take_over(
    db: &Db,
    scope: &Scope,
    key: &str,
    old_lease: &str,
    fingerprint: &str,
    lease: &str,
    locked_until: &str,
    now: &str,
) -> CoreResult<bool> {
    let moved = sqlx::query(
        "UPDATE idempotency_keys SET fingerprint = $1, state = 'in_progress', lease = $2, locked_until = $3, \
         status = NULL, headers = NULL, body = NULL, body_base64 = 0, created_at = $4, completed_at = NULL \
         WHERE tenant_id = $5 AND owner = $6 AND idem_key = $7 AND lease = $8",
    )
    .bind(fingerprint)
    .bind(lease)
    .bind(locked_until)
    .bind(now)
    .bind(&scope.tenant_id)
    .bind(&scope.owner)
    .bind(key)
    .bind(old_lease)
    .execute(db.pool())
    .await?;
    Ok(moved.rows_affected() == 1)
}

impl Guard {
    fn new(db: &Db, scope: &Scope, key: &str, lease: String) -> Guard {
        Guard {
            db: db.clone(),
            scope: scope.clone(),
            key: key.to_string(),
            lease,
            settled: false,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Push the lease out while the request still runs. `false` when the
    /// claim is no longer this guard's.
    pub async fn renew(&self) -> CoreResult<bool> {
        let moved = sqlx::query(
            "UPDATE idempotency_keys SET locked_until = $1 \
             WHERE tenant_id = $2 AND owner = $3 AND idem_key = $4 AND lease = $5 AND state = 'in_progress'",
        )
        .bind(clock::format(OffsetDateTime::now_utc() + LEASE))
        .bind(&self.scope.tenant_id)
        .bind(&self.scope.owner)
        .bind(&self.key)
        .bind(&self.lease)
        .execute(self.db.pool())
        .await?;
        Ok(moved.rows_affected() == 1)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Dropped mid-request (a panic): let a retry run it again now rather
        // than after the lease.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (db, scope, key, lease) = (
                self.db.clone(),
                self.scope.clone(),
                self.key.clone(),
                self.lease.clone(),
            );
            rt.spawn(async move {
                if let Err(e) = release(&db, &scope, &key, &lease).await {
                    tracing::warn!(error = %e, "an abandoned idempotency key could not be released");
                }
            });
        }
    }
}

/// Store the answer of the request that holds `guard`. `false` when the
/// claim was lost meanwhile (another request took it over): nothing is stored.
pub async fn complete(mut guard: Guard, response: &StoredResponse) -> CoreResult<bool> {
    guard.settled = true;
    let (body, base64) = match std::str::from_utf8(&response.body) {
        Ok(text) => (text.to_string(), 0),
        Err(_) => (B64.encode(&response.body), 1),
    };
    let headers = serde_json::to_string(&response.headers)
        .map_err(|e| crate::CoreError::Internal(format!("answer headers: {e}")))?;
    let done = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, headers = $2, body = $3, body_base64 = $4, \
         completed_at = $5 \
         WHERE tenant_id = $6 AND owner = $7 AND idem_key = $8 AND lease = $9 AND state = 'in_progress'",
    )
    .bind(i64::from(response.status))
    .bind(headers)
    .bind(body)
    .bind(base64)
    .bind(clock::now())
    .bind(&guard.scope.tenant_id)
    .bind(&guard.scope.owner)
    .bind(&guard.key)
    .bind(&guard.lease)
    .execute(guard.db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Give the key up: the request failed on our side, so a retry runs it again.
pub async fn abandon(mut guard: Guard) -> CoreResult<()> {
    guard.settled = true;
    release(&guard.db, &guard.scope, &guard.key, &guard.lease).await
}

async fn release(db: &Db, scope: &Scope, key: &str, lease: &str) -> CoreResult<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys \
         WHERE tenant_id = $1 AND owner = $2 AND idem_key = $3 AND lease = $4 AND state = 'in_progress'",
    )
    .bind(&scope.tenant_id)
    .bind(&scope.owner)
    .bind(key)
    .bind(lease)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Delete the keys older than [`TTL`] at `now` (a claim still running is
/// kept). Returns how many.
pub async fn sweep(db: &Db, now: OffsetDateTime) -> CoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < $1 AND (state = 'done' OR locked_until < $2)",
    )
    .bind(clock::format(now - TTL))
    .bind(clock::format(now))
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// The id of the live access token `secret`, as a key owner (`token:<id>`).
pub async fn token_owner(db: &Db, secret: &str) -> CoreResult<Option<String>> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM access_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_token(secret))
    .fetch_optional(db.pool())
    .await?;
    Ok(id.map(|id| format!("token:{id}")))
}

/// The id of the live API key `secret`, as a key owner (`key:<id>`).
pub async fn api_key_owner(db: &Db, secret: &str) -> CoreResult<Option<String>> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(hash_token(secret))
            .fetch_optional(db.pool())
            .await?;
    Ok(id.map(|id| format!("key:{id}")))
}

/// The built-in schedule of the sweep: hourly (a key older than [`TTL`] is
/// already treated as new, so the sweep only reclaims space).
pub fn schedule() -> NewSchedule {
    NewSchedule {
        tenant_id: crate::DEFAULT_TENANT_ID.into(),
        name: SWEEP_SCHEDULE.into(),
        cron: "7 * * * *".into(),
        kind: SWEEP_KIND.into(),
        payload: serde_json::json!({}),
        // One sweep at a time, whatever the number of processes.
        target: Some(Target {
            kind: "system".into(),
            id: SWEEP_SCHEDULE.into(),
        }),
    }
}

/// The `idempotency.sweep` job.
pub struct Sweep;

#[async_trait]
impl JobHandler for Sweep {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let n = sweep(ctx.db(), OffsetDateTime::now_utc()).await?;
        ctx.log("stdout", format!("{n} expired idempotency key(s) deleted"))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_printable_ascii() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key(&"k".repeat(255)).is_ok());
        assert!(validate_key("order 42 / retry-1").is_ok());
        for bad in ["", "\t", "tab\there", "ünï", &"k".repeat(256)] {
            let e = validate_key(bad).unwrap_err();
            assert!(
                matches!(&e, crate::CoreError::Field { field, .. } if field == "Idempotency-Key"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn fingerprints_tell_method_path_and_body_apart() {
        let a = fingerprint("POST", "/api/orders", b"{}");
        assert_eq!(a, fingerprint("post", "/api/orders", b"{}"));
        assert_ne!(a, fingerprint("POST", "/api/customers", b"{}"));
        assert_ne!(a, fingerprint("POST", "/api/orders", b"{ }"));
        assert_ne!(a, fingerprint("PUT", "/api/orders", b"{}"));
        assert_eq!(a.len(), 64);
    }
}
