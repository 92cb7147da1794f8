//! The control-plane database: SQLite (embedded default) or PostgreSQL.
//!
//! One set of queries serves both backends through sqlx's `Any` driver:
//! ids are UUID text, times are fixed-width RFC 3339 text (see [`crate::clock`]),
//! flags are integers 0/1 (the `Any` driver cannot decode SQLite's BOOLEAN; see
//! [`flag`] and [`is_set`]), money is `BIGINT` minor units, and placeholders are
//! `$1, $2, ...` in order of first use (SQLite numbers `$N` parameters by first
//! appearance, PostgreSQL by N, so both agree when they appear in order).
//! Where the backends must differ (claiming jobs, DDL), [`Db::backend`] says which.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, Executor,
};

use crate::{CoreError, CoreResult};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database server sits behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a `DATABASE_URL` selects.
    pub fn of_url(url: &str) -> CoreResult<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(CoreError::Invalid(
                "DATABASE_URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// A pool of connections to the control-plane database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: std::sync::Arc<str>,
    /// Bumped whenever a job may have become ready (see [`Db::jobs_signal`]).
    jobs_ready: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// Shows the backend, the URL without its password, and the pool's size.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("url", &redacted_url(&self.url))
            .field("size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// `url` with its password (in the user info or a query parameter) hidden.
fn redacted_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "[unparsable URL]".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("REDACTED"));
    }
    let secret = |k: &str| {
        ["pass", "secret", "key", "token"]
            .iter()
            .any(|w| k.to_ascii_lowercase().contains(w))
    };
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(u.query_pairs().map(|(k, v)| {
                let v = if secret(&k) { "REDACTED".into() } else { v };
                (k, v)
            }))
            .finish();
        u.set_query(Some(&query));
    }
    u.to_string()
}

/// Options for opening a [`Db`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl Db {
    /// Open a pool for `url`. A SQLite file (and its directory) is created if
    /// missing and put in WAL mode.
    pub async fn connect(url: &str, opts: DbOptions) -> CoreResult<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let mut url = url.to_string();
        if backend == Backend::Sqlite {
            prepare_sqlite_path(&mut url)?;
        }
        let connect = AnyConnectOptions::from_str(&url)
            .map_err(|e| CoreError::Invalid(format!("DATABASE_URL is not valid: {e}")))?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout);
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the one writer; NORMAL is durable
                    // in WAL mode up to the last checkpointed transaction.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(connect).await?;
        Ok(Db {
            pool,
            backend,
            url: url.into(),
            jobs_ready: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// The URL this pool connects to (for a PostgreSQL `LISTEN` connection).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Workers in this process wait on this to hear of new ready jobs at once
    /// instead of at their next poll.
    pub(crate) fn jobs_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.jobs_ready.subscribe()
    }

    /// Tell this process's workers that a job may be ready.
    pub(crate) fn wake_workers(&self) {
        self.jobs_ready.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begin a transaction that will write. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`, waiting up to the busy timeout), so a
    /// transaction that reads before it writes is never refused halfway
    /// with "database is locked"; PostgreSQL locks rows as it goes.
    pub async fn begin_write(&self) -> CoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Apply every pending migration of this backend.
    pub async fn migrate(&self) -> CoreResult<()> {
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Versions of the migrations this build knows and the database has applied.
    pub async fn migration_status(&self) -> CoreResult<MigrationStatus> {
        let known = self.backend.migrator().iter().map(|m| m.version).max();
        let applied: Option<i64> =
            // `success` is a real BOOLEAN (sqlx's own table); a bare column test
            // reads the same on both backends.
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(MigrationStatus {
            latest_known: known,
            latest_applied: applied,
        })
    }

    /// Round-trip to the database; used by health checks.
    pub async fn ping(&self) -> CoreResult<()> {
        let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&self.pool).await?;
        if one == 1 {
            Ok(())
        } else {
            Err(CoreError::Internal(
                "database answered SELECT 1 wrongly".into(),
            ))
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A boolean as stored: flags are `0`/`1` integers on both backends.
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Read a stored flag.
pub fn is_set(v: i64) -> bool {
    v != 0
}

/// Where the schema stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationStatus {
    pub latest_known: Option<i64>,
    pub latest_applied: Option<i64>,
}

impl MigrationStatus {
    pub fn up_to_date(&self) -> bool {
        self.latest_known == self.latest_applied
    }
}

/// Make sure a SQLite URL names a file that can be created: create its
/// directory and ask sqlx to create the file (`mode=rwc`).
fn prepare_sqlite_path(url: &mut String) -> CoreResult<()> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default()
        .to_string();
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (rest.clone(), None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(&path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| {
                CoreError::Invalid(format!(
                    "cannot create the database directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    if query.as_deref().is_none_or(|q| !q.contains("mode=")) {
        let sep = if query.is_some() { '&' } else { '?' };
        url.push(sep);
        url.push_str("mode=rwc");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_hides_the_password() {
        sqlx::any::install_default_drivers();
        let url =
            "postgres://mooring:hunter2pw@127.0.0.1:1/m?sslpassword=hunter3pw&sslmode=disable";
        let db = Db {
            pool: AnyPoolOptions::new().connect_lazy(url).unwrap(),
            backend: Backend::Postgres,
            url: url.into(),
            jobs_ready: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        let dbg = format!("{db:?}");
        assert!(
            !dbg.contains("hunter2pw") && !dbg.contains("hunter3pw"),
            "{dbg}"
        );
        assert!(dbg.contains("mooring:REDACTED@127.0.0.1:1/m"), "{dbg}");
        assert!(dbg.contains("sslmode=disable"), "{dbg}");
    }

    #[test]
    fn urls_select_backends() {
        assert_eq!(Backend::of_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("sqlite:x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            Backend::of_url("mysql://u@h/db"),
            Err(CoreError::Invalid(_))
        ));
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("mooring-url-{}", uuid::Uuid::new_v4()));
        let mut url = format!("sqlite://{}/sub/m.db", dir.display());
        prepare_sqlite_path(&mut url).unwrap();
        assert!(url.ends_with("/sub/m.db?mode=rwc"), "{url}");
        assert!(dir.join("sub").is_dir());
        let mut url2 = format!("sqlite://{}/m.db?mode=ro", dir.display());
        prepare_sqlite_path(&mut url2).unwrap();
        assert!(url2.ends_with("?mode=ro"), "{url2}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
