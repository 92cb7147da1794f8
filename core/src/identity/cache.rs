//! The identity rows every request reads, kept in memory.
//!
//! Each request used to read its session row, the account behind it (or the
//! token or API key it carried) before doing any work of its own. This keeps
//! those rows in memory, one cache per [`Db`], without weakening anything:
//!
//! - Every change Mooring makes to accounts, sessions, tokens or keys drops
//!   the cache when it commits ([`AuthCache::clear`], called by the code that
//!   makes the change), so the very next request reads the database again.
//! - On PostgreSQL, triggers (migration 16) `NOTIFY mooring_identity` on any
//!   such change, whoever makes it (another Mooring process, the CLI, psql);
//!   each process's listener drops its cache when told. While that listener
//!   is not connected the cache is not used at all: every read goes to the
//!   database, as before.
//! - On SQLite (one serving process) entries live [`SQLITE_TTL`]: a change
//!   made by another process (the CLI) is seen within that time.
//! - A read that raced a change is not kept (each clear bumps a generation;
//!   a read is stored only if none happened since it began).
//! - Only rows that exist are kept: an unknown token costs a query each time,
//!   so guessing cannot fill memory; past [`MAX_ENTRIES`] the cache starts over.
//!
//! Sessions known to have no one-time message waiting are noted too, so a
//! page view costs no `DELETE … RETURNING` on the flashes table; leaving a
//! message drops the note (and, on PostgreSQL, is announced like the rest).
//!
//! The same object batches the `last_used_at` of tokens and keys: a use is
//! noted in memory and written at most every [`FLUSH_EVERY`], before any
//! listing shows it, and when the pool closes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::{Duration, Instant},
};

use crate::{Backend, CoreResult, Db};

/// The channel migration 16's triggers notify.
pub const CHANNEL: &str = "mooring_identity";
/// How long an entry lives on SQLite (changes by other processes show within it).
pub const SQLITE_TTL: Duration = Duration::from_secs(5);
/// How long an entry lives on PostgreSQL, where changes are announced (a safety net).
pub const POSTGRES_TTL: Duration = Duration::from_secs(300);
/// Entries kept at most; past it the cache starts over.
pub const MAX_ENTRIES: usize = 100_000;
/// How often noted uses of tokens and keys are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(15);

/// Which kind of row an entry copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    User,
    Token,
    Key,
    Session,
    /// A session known to have no one-time message waiting.
    NoFlash,
}

/// What a credential was used for, awaiting its `last_used_at` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Used {
    Token,
    Key,
}

type Value = Arc<dyn std::any::Any + Send + Sync>;

/// One map per [`Kind`], so a lookup by `&str` allocates nothing.
#[derive(Default)]
struct Entries([HashMap<String, Entry>; 5]);

impl Entries {
    fn of(&mut self, kind: Kind) -> &mut HashMap<String, Entry> {
        &mut self.0[kind as usize]
    }

    fn len(&self) -> usize {
        self.0.iter().map(HashMap::len).sum()
    }

    fn clear(&mut self) {
        self.0.iter_mut().for_each(HashMap::clear);
    }
}

struct Entry {
    at: Instant,
    value: Value,
}

/// See the module documentation.
pub struct AuthCache {
    entries: Mutex<Entries>,
    generation: AtomicU64,
    /// Whether entries may be used: always on SQLite; on PostgreSQL only
    /// while the listener is connected.
    live: AtomicBool,
    ttl: Duration,
    backend: Backend,
    /// The listener and flusher were started (lazily, on first use).
    started: AtomicBool,
    uses: Mutex<HashMap<(Used, String), String>>,
    stop: tokio::sync::Notify,
    stopped: AtomicBool,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("live", &self.live.load(Ordering::Relaxed))
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Taken before reading the database; a read is kept only with a ticket
/// from before any change since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl AuthCache {
    pub(crate) fn new(backend: Backend) -> Arc<AuthCache> {
        Arc::new(AuthCache {
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(backend == Backend::Sqlite),
            ttl: match backend {
                Backend::Sqlite => SQLITE_TTL,
                Backend::Postgres => POSTGRES_TTL,
            },
            backend,
            started: AtomicBool::new(false),
            uses: Mutex::default(),
            stop: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
        })
    }

    /// Forget everything: the next reads go to the database.
    pub fn clear(&self) {
        let mut entries = lock(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Whether entries are being used (for tests and health).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// A ticket for a read about to start, or `None` if the cache is off.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        self.is_live()
            .then(|| Ticket(self.generation.load(Ordering::SeqCst)))
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self, kind: Kind, key: &str) -> Option<Arc<T>> {
        if !self.is_live() {
            return None;
        }
        let mut entries = lock(&self.entries);
        let e = entries.of(kind).get(key)?;
        if e.at.elapsed() > self.ttl {
            return None;
        }
        e.value.clone().downcast::<T>().ok()
    }

    pub(crate) fn put<T: Send + Sync + 'static>(
        &self,
        ticket: Option<Ticket>,
        kind: Kind,
        key: &str,
        value: Arc<T>,
    ) {
        let Some(Ticket(generation)) = ticket else {
            return;
        };
        let mut entries = lock(&self.entries);
        if self.generation.load(Ordering::SeqCst) != generation || !self.is_live() {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.of(kind).insert(
            key.to_string(),
            Entry {
                at: Instant::now(),
                value,
            },
        );
    }

    /// Drop one entry (and keep reads that began before from being stored).
    pub(crate) fn forget(&self, kind: Kind, key: &str) {
        let mut entries = lock(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.of(kind).remove(key);
    }

    /// Note that a token or key was used now.
    pub(crate) fn note_use(&self, what: Used, id: &str) {
        lock(&self.uses).insert((what, id.to_string()), crate::clock::now());
    }

    fn set_live(&self, live: bool) {
        let mut entries = lock(&self.entries);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
        self.live.store(live, Ordering::SeqCst);
    }

    /// Start the listener (PostgreSQL) and the flusher, once, on first use.
    pub(crate) fn start(self: &Arc<Self>, db: &Db) {
        if self.started.load(Ordering::Relaxed) || self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::SeqCst);
            return;
        };
        let weak = Arc::downgrade(self);
        let pool = db.pool().clone();
        let url = db.url().to_string();
        let backend = self.backend;
        rt.spawn(flusher(weak.clone(), pool));
        if backend == Backend::Postgres {
            rt.spawn(listener(weak, url));
        }
    }

    /// Stop the background tasks (the pool is closing).
    pub(crate) fn shut_down(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.live
            .store(self.backend == Backend::Sqlite, Ordering::SeqCst);
    }
}

/// Write every noted use of tokens and keys.
pub async fn flush_usage(db: &Db) -> CoreResult<()> {
    flush_with(db.auth_idle(), db.pool()).await
}

async fn flush_with(cache: &AuthCache, pool: &sqlx::AnyPool) -> CoreResult<()> {
    let uses: Vec<_> = std::mem::take(&mut *lock(&cache.uses))
        .into_iter()
        .collect();
    for ((what, id), at) in uses {
        // Never moving a use back in time.
        let sql = match what {
            Used::Token => {
                "UPDATE access_tokens SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $1)"
            }
            Used::Key => {
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $1)"
            }
        };
        let done = sqlx::query(sql).bind(&at).bind(&id).execute(pool).await;
        if let Err(e) = done {
            // Keep it for the next round rather than lose it.
            lock(&cache.uses).entry((what, id)).or_insert(at);
            return Err(e.into());
        }
    }
    Ok(())
}

async fn flusher(cache: Weak<AuthCache>, pool: sqlx::AnyPool) {
    loop {
        let Some(c) = cache.upgrade() else { return };
        let stopped = {
            let stop = c.stop.notified();
            tokio::select! {
                _ = stop => true,
                _ = tokio::time::sleep(FLUSH_EVERY) => false,
            }
        };
        if stopped || c.stopped.load(Ordering::SeqCst) || pool.is_closed() {
            return;
        }
        if let Err(e) = flush_with(&c, &pool).await {
            tracing::warn!(error = %e, "could not record when tokens and keys were last used; retrying");
        }
    }
}

/// Drop the cache whenever PostgreSQL announces an identity change; the
/// cache is live only while this is connected.
async fn listener(cache: Weak<AuthCache>, url: String) {
    loop {
        let connected = sqlx::postgres::PgListener::connect(&url).await;
        let Some(c) = cache.upgrade() else { return };
        if c.stopped.load(Ordering::SeqCst) {
            return;
        }
        match connected {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => {
                    c.set_live(true);
                    loop {
                        let stop = c.stop.notified();
                        tokio::select! {
                            _ = stop => { c.set_live(false); return; }
                            got = l.recv() => match got {
                                Ok(_) => c.clear(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "identity notifications interrupted; reading from the database until reconnected");
                                    break;
                                }
                            }
                        }
                    }
                    c.set_live(false);
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for identity changes"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for identity changes"),
        }
        drop(c);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let c = AuthCache::new(Backend::Sqlite);
        // A read begins, a change commits, then the read tries to store.
        let ticket = c.ticket();
        c.clear();
        c.put(ticket, Kind::User, "u1", Arc::new(1u8));
        assert!(c.get::<u8>(Kind::User, "u1").is_none());
        // A read with no change meanwhile is kept, and one entry can be dropped.
        let ticket = c.ticket();
        c.put(ticket, Kind::User, "u1", Arc::new(2u8));
        assert_eq!(c.get::<u8>(Kind::User, "u1").as_deref(), Some(&2));
        assert!(c.get::<u8>(Kind::Token, "u1").is_none(), "kinds are apart");
        c.forget(Kind::User, "u1");
        assert!(c.get::<u8>(Kind::User, "u1").is_none());
    }

    #[test]
    fn nothing_is_used_or_kept_until_postgres_listens() {
        let c = AuthCache::new(Backend::Postgres);
        assert!(!c.is_live());
        assert!(c.ticket().is_none());
        c.put(c.ticket(), Kind::Key, "k", Arc::new(1u8));
        assert!(c.get::<u8>(Kind::Key, "k").is_none());
        c.set_live(true);
        c.put(c.ticket(), Kind::Key, "k", Arc::new(1u8));
        assert!(c.get::<u8>(Kind::Key, "k").is_some());
        // Losing the listener empties the cache and stops its use.
        c.set_live(false);
        c.set_live(true);
        assert!(c.get::<u8>(Kind::Key, "k").is_none());
    }
}
