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
    /// Accounts, sessions, tokens and keys kept in memory (see [`crate::identity::cache`]).
    auth: std::sync::Arc<crate::identity::cache::AuthCache>,
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
            auth: crate::identity::cache::AuthCache::new(backend),
        })
    }

    /// The identity cache without starting its tasks.
    pub(crate) fn auth_idle(&self) -> &crate::identity::cache::AuthCache {
        &self.auth
    }

    /// This pool's identity cache (its listener starts on first use).
    pub fn auth(&self) -> &crate::identity::cache::AuthCache {
        self.auth.start(self);
        &self.auth
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

    /// Write what is pending (uses of tokens and keys), stop the identity
    /// listener, and close the pool.
    pub async fn close(&self) {
        if let Err(e) = crate::identity::cache::flush_usage(self).await {
            tracing::warn!(error = %e, "could not record the last uses of tokens and keys");
        }
        self.auth.shut_down();
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

/// A unique index of the schema and what its refusal means to a person:
/// the input field whose value is taken and a sentence saying so.
struct UniqueIndex {
    /// Its name on PostgreSQL (the constraint or index name).
    postgres: &'static str,
    /// Its columns as SQLite names them: `UNIQUE constraint failed: <this>`.
    sqlite: &'static str,
    field: Option<&'static str>,
    message: &'static str,
}

const fn unique(
    postgres: &'static str,
    sqlite: &'static str,
    field: Option<&'static str>,
    message: &'static str,
) -> UniqueIndex {
    UniqueIndex {
        postgres,
        sqlite,
        field,
        message,
    }
}

/// Every unique index a request can run into (both migrations name them
/// alike). Foreign keys need no table: PostgreSQL names them
/// `<table>_<column>_fkey`, and the column says what is missing.
const UNIQUE_INDEXES: &[UniqueIndex] = &[
    unique(
        "tenants_slug_key",
        "tenants.slug",
        Some("slug"),
        "a tenant with this slug exists",
    ),
    unique(
        "users_email_key",
        "users.email",
        Some("email"),
        "an account with this email exists",
    ),
    unique(
        "schedules_tenant_id_name_key",
        "schedules.tenant_id, schedules.name",
        Some("name"),
        "a schedule with this name exists",
    ),
    unique(
        "servers_tenant_id_name_key",
        "servers.tenant_id, servers.name",
        Some("name"),
        "a server with this name exists",
    ),
    unique(
        "sites_tenant_id_slug_key",
        "sites.tenant_id, sites.slug",
        Some("slug"),
        "a site with this slug exists",
    ),
    unique(
        "customers_tenant_id_email_key",
        "customers.tenant_id, customers.email",
        Some("email"),
        "a customer with this email exists",
    ),
    unique(
        "products_tenant_id_sku_key",
        "products.tenant_id, products.sku",
        Some("sku"),
        "a product with this SKU exists",
    ),
    unique(
        "coupons_tenant_id_code_key",
        "coupons.tenant_id, coupons.code",
        Some("code"),
        "a coupon with this code exists",
    ),
    unique(
        "invoices_tenant_id_number_key",
        "invoices.tenant_id, invoices.number",
        Some("number"),
        "an invoice with this number exists",
    ),
    unique(
        "invoices_one_per_period",
        "invoices.subscription_id, invoices.period_start",
        Some("subscriptionId"),
        "this subscription already has an invoice for that period",
    ),
    unique(
        "cloudpods_tenant_id_name_key",
        "cloudpods.tenant_id, cloudpods.name",
        Some("name"),
        "a CloudPod with this name exists",
    ),
    unique(
        "cloudpods_subscription_id_key",
        "cloudpods.subscription_id",
        Some("subscriptionId"),
        "this subscription already has a CloudPod",
    ),
    unique(
        "cloudpods_ipv4",
        "cloudpods.server_id, cloudpods.ipv4",
        Some("ipv4"),
        "this IPv4 address is in use on that server",
    ),
    unique(
        "jobs_one_running_per_target",
        "jobs.target_type, jobs.target_id",
        None,
        "a job is already running on this",
    ),
    unique(
        "jobs_one_per_scheduled_run",
        "jobs.schedule_id, jobs.scheduled_for",
        None,
        "this run of the schedule has started already",
    ),
];

/// `customer_id` → `customerId`.
fn camel(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The [`CoreError::Violation`] a constraint's refusal of a write means, or
/// `None` for any other error. The one place unique and foreign-key
/// violations get their meaning (`From<sqlx::Error> for CoreError` calls it),
/// so none of them reaches a person as an internal error.
pub fn violation(e: &sqlx::Error) -> Option<CoreError> {
    use crate::error::ViolationKind;
    let d = e.as_database_error()?;
    match d.kind() {
        sqlx::error::ErrorKind::UniqueViolation => {
            // PostgreSQL names the constraint; SQLite lists its columns.
            let index = match d.constraint() {
                Some(name) => UNIQUE_INDEXES.iter().find(|u| u.postgres == name),
                None => d
                    .message()
                    .strip_prefix("UNIQUE constraint failed: ")
                    .and_then(|cols| UNIQUE_INDEXES.iter().find(|u| u.sqlite == cols.trim())),
            };
            Some(CoreError::Violation {
                kind: ViolationKind::Unique,
                field: index.and_then(|u| u.field).map(str::to_string),
                message: index
                    .map_or("a record with these values exists", |u| u.message)
                    .to_string(),
            })
        }
        sqlx::error::ErrorKind::ForeignKeyViolation => {
            // PostgreSQL: `<table>_<column>_fkey`; SQLite names nothing.
            let column = d.constraint().and_then(|name| {
                let rest = match d.table() {
                    Some(t) => name.strip_prefix(t)?.strip_prefix('_')?,
                    None => name,
                };
                rest.strip_suffix("_fkey")
            });
            // PostgreSQL: a delete refused because other records still refer to the row.
            let referenced = d.message().starts_with("update or delete on table");
            Some(match column {
                _ if referenced => CoreError::Conflict(
                    "other records still refer to this; remove them first".into(),
                ),
                Some(col) => CoreError::Violation {
                    kind: ViolationKind::ForeignKey,
                    field: Some(camel(col)),
                    message: format!(
                        "no such {}",
                        col.strip_suffix("_id").unwrap_or(col).replace('_', " ")
                    ),
                },
                None => CoreError::Violation {
                    kind: ViolationKind::ForeignKey,
                    field: None,
                    message: "a record this refers to does not exist \
                              (or other records still refer to this one)"
                        .into(),
                },
            })
        }
        _ => None,
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
            auth: crate::identity::cache::AuthCache::new(Backend::Postgres),
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
