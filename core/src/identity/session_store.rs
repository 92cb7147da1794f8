//! Browser sessions in the control-plane database (both backends), for
//! `tower-sessions`.
//!
//! Rows are keyed by the SHA-256 of the session id, so a copy of the table
//! does not hand out live cookies. The signed-in user's id is kept in its own
//! column so all sessions of a user can be ended at once.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tower_sessions_core::{
    session::{Id, Record},
    session_store::{Error, Result},
    SessionStore,
};

use crate::{clock, CoreResult, Db};

/// The key in session data holding the signed-in user's id.
pub const USER_KEY: &str = "user_id";
/// The key holding when the user signed in (RFC 3339), for the absolute timeout.
pub const SIGNED_IN_AT_KEY: &str = "signed_in_at";

/// A `tower-sessions` store on [`Db`].
///
/// Every request "saves" its session (the idle deadline moves), but a save
/// writes only when the data changed or the deadline moved by more than
/// [`DEADLINE_SLACK`] since the row was read or written here: a busy session
/// costs a write about once a minute, not one per request.
#[derive(Debug, Clone)]
pub struct SqlSessionStore {
    db: Db,
    /// What each session's row holds, as this process last read or wrote it:
    /// `(hash of its data, its deadline)`, by row key.
    seen: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (u64, time::OffsetDateTime)>>,
    >,
}

/// How far a session's idle deadline may move before its row is written.
pub const DEADLINE_SLACK: time::Duration = time::Duration::seconds(60);

/// Sessions remembered at most; past it the memory starts over (a save then
/// writes once more).
const SEEN_MAX: usize = 50_000;

impl SqlSessionStore {
    pub fn new(db: Db) -> Self {
        SqlSessionStore {
            db,
            seen: Default::default(),
        }
    }

    fn remember(&self, key: &str, data: &str, deadline: time::OffsetDateTime) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SEEN_MAX {
            seen.clear();
        }
        seen.insert(key.to_string(), (digest(data), deadline));
    }

    fn forget(&self, key: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Whether the row holds `data` as this process last saw it.
    fn same_data(&self, key: &str, data: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key).is_some_and(|(hash, _)| *hash == digest(data))
    }

    /// Whether saving `data` with `deadline` would change nothing that matters.
    fn unchanged(&self, key: &str, data: &str, deadline: time::OffsetDateTime) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key).is_some_and(|(hash, stored)| {
            *hash == digest(data) && deadline >= *stored && deadline - *stored < DEADLINE_SLACK
        })
    }
}

fn digest(data: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// Session data as stable text (keys sorted), so equal data hashes equally.
fn encode(record: &Record) -> Result<String> {
    let sorted: std::collections::BTreeMap<_, _> = record.data.iter().collect();
    serde_json::to_string(&sorted).map_err(|e| Error::Encode(e.to_string()))
}

fn key(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

/// Leave `flash` (JSON) for session `id`'s next page; replaces one not yet
/// shown. Flashes an hour old are dropped.
pub async fn put_flash(db: &Db, id: &Id, flash: &str) -> crate::CoreResult<()> {
    let now = time::OffsetDateTime::now_utc();
    db.auth().forget(super::cache::Kind::NoFlash, &key(id));
    sqlx::query("DELETE FROM flashes WHERE created_at < $1")
        .bind(clock::format(now - time::Duration::hours(1)))
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO flashes (session_hash, flash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (session_hash) DO UPDATE SET flash = excluded.flash, created_at = excluded.created_at",
    )
    .bind(key(id))
    .bind(flash)
    .bind(clock::format(now))
    .execute(db.pool())
    .await?;
    // Again once it is stored: a page of the same session that looked
    // meanwhile may have noted "none" from before the insert.
    db.auth().forget(super::cache::Kind::NoFlash, &key(id));
    Ok(())
}

/// Take session `id`'s flash, once. A session known to have none (this
/// process took its last one and none was left since, here or, on
/// PostgreSQL, in any process) costs no query.
pub async fn take_flash(db: &Db, id: &Id) -> crate::CoreResult<Option<String>> {
    use super::cache::Kind;
    let row = key(id);
    let cache = db.auth();
    if cache.get::<()>(Kind::NoFlash, &row).is_some() {
        return Ok(None);
    }
    let ticket = cache.ticket();
    let flash = sqlx::query_scalar("DELETE FROM flashes WHERE session_hash = $1 RETURNING flash")
        .bind(&row)
        .fetch_optional(db.pool())
        .await?;
    cache.put(ticket, Kind::NoFlash, &row, std::sync::Arc::new(()));
    Ok(flash)
}

/// A secret a flash message shows once (a new token or API key), sealed
/// for session `id`'s `flashes` row and `tenant`: the database never holds
/// it in the clear, and it opens only for that session's next page.
pub fn seal_shown_once(
    vault: &crate::vault::Vault,
    id: &Id,
    tenant: &str,
    secret: &str,
) -> crate::CoreResult<String> {
    let row = key(id);
    vault.seal(
        crate::vault::Purpose::ShownOnce,
        &crate::vault::Binding::new("flashes", &row, tenant),
        secret.as_bytes(),
    )
}

/// The secret [`seal_shown_once`] sealed for session `id` and `tenant`.
pub fn open_shown_once(
    vault: &crate::vault::Vault,
    id: &Id,
    tenant: &str,
    sealed: &str,
) -> crate::CoreResult<String> {
    let row = key(id);
    let plain = vault.open(
        crate::vault::Purpose::ShownOnce,
        &crate::vault::Binding::new("flashes", &row, tenant),
        sealed,
    )?;
    String::from_utf8(plain)
        .map_err(|_| crate::CoreError::Internal("a sealed secret is not text".into()))
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn user_of(record: &Record) -> Option<String> {
    record
        .data
        .get(USER_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        for _ in 0..8 {
            let data = encode(record)?;
            let inserted = sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, data, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key(&record.id))
            .bind(user_of(record))
            .bind(&data)
            .bind(clock::now())
            .bind(clock::format(record.expiry_date))
            .execute(self.db.pool())
            .await;
            match inserted {
                Ok(_) => {
                    self.remember(&key(&record.id), &data, record.expiry_date);
                    return Ok(());
                }
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(Error::Backend("could not find a free session id".into()))
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = encode(record)?;
        let row = key(&record.id);
        if self.unchanged(&row, &data, record.expiry_date) {
            return Ok(());
        }
        let unchanged_data = self.same_data(&row, &data);
        if !unchanged_data {
            self.db.auth().forget(super::cache::Kind::Session, &row);
        }
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, data, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, \
             data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(&row)
        .bind(user_of(record))
        .bind(&data)
        .bind(clock::now())
        .bind(clock::format(record.expiry_date))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        self.remember(&row, &data, record.expiry_date);
        if !unchanged_data {
            // Again once written: a load that ran meanwhile may hold the old data.
            self.db.auth().forget(super::cache::Kind::Session, &row);
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        use super::cache::Kind;
        let row_key = key(id);
        let cache = self.db.auth();
        if let Some(r) = cache.get::<Record>(Kind::Session, &row_key) {
            // A copy past its deadline is read again: another process may
            // have moved the deadline on.
            if r.expiry_date > time::OffsetDateTime::now_utc() {
                return Ok(Some(Record {
                    id: *id,
                    data: r.data.clone(),
                    expiry_date: r.expiry_date,
                }));
            }
        }
        let ticket = cache.ticket();
        let row = sqlx::query(
            "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(&row_key)
        .bind(clock::now())
        .fetch_optional(self.db.pool())
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            self.forget(&row_key);
            return Ok(None);
        };
        let data: String = row.try_get("data").map_err(backend)?;
        let expires_at: String = row.try_get("expires_at").map_err(backend)?;
        let record = Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?,
            expiry_date: clock::parse(&expires_at).ok_or_else(|| Error::Decode("expiry".into()))?,
        };
        // Remember the data as `save` will encode it.
        self.remember(&row_key, &encode(&record)?, record.expiry_date);
        cache.put(
            ticket,
            Kind::Session,
            &row_key,
            std::sync::Arc::new(record.clone()),
        );
        Ok(Some(record))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.forget(&key(id));
        self.db.auth().forget(super::cache::Kind::Session, &key(id));
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(key(id))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        // Again once deleted: a load that ran meanwhile may have kept the row.
        self.db.auth().forget(super::cache::Kind::Session, &key(id));
        Ok(())
    }
}

/// End every session of a user (password change, disable, admin action).
pub async fn end_all_for_user(db: &Db, user_id: &str) -> CoreResult<u64> {
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.pool())
        .await?
        .rows_affected();
    db.auth().clear();
    Ok(ended)
}

/// Remove expired sessions (run periodically).
pub async fn delete_expired(db: &Db) -> CoreResult<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(clock::now())
        .execute(db.pool())
        .await?
        .rows_affected())
}
