//! Test helpers: a fresh, migrated database per test on each backend.
//!
//! SQLite databases are files in a temporary directory. PostgreSQL databases are
//! created on the server named by `MOORING_TEST_PG_URL` (the test command,
//! `./x test`, starts one on loopback and sets it); each test gets its own
//! database, so tests run in parallel without seeing each other.

use std::path::PathBuf;

pub mod shop;
pub mod sshd;

use sqlx::Executor;

use crate::{db::DbOptions, Db};

/// A database that lives as long as the test needs it.
pub struct TestDb {
    pub db: Db,
    /// The URL this database was opened with (for tests that start a server).
    pub url: String,
    dir: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new migrated SQLite database in its own temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = std::env::temp_dir().join(format!("mooring-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let url = format!("sqlite://{}/mooring.db", dir.display());
    let db = Db::connect(&url, DbOptions::default())
        .await
        .expect("open sqlite test database");
    db.migrate().await.expect("migrate sqlite test database");
    TestDb {
        db,
        url,
        dir: Some(dir),
    }
}

/// The PostgreSQL server tests use. Fails loudly when it is not configured:
/// every storage test must run on both backends.
pub fn postgres_admin_url() -> String {
    std::env::var("MOORING_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "MOORING_TEST_PG_URL is not set. Storage tests run on SQLite and PostgreSQL; \
             run them with `./x test` (it starts PostgreSQL on loopback), or point \
             MOORING_TEST_PG_URL at a server where this user may CREATE DATABASE."
        )
    })
}

/// A new migrated PostgreSQL database of its own.
pub async fn postgres() -> TestDb {
    let admin_url = postgres_admin_url();
    let name = format!("mooring_test_{}", uuid::Uuid::new_v4().simple());
    {
        let admin = Db::connect(
            &admin_url,
            DbOptions {
                max_connections: 1,
                ..DbOptions::default()
            },
        )
        .await
        .expect("connect to MOORING_TEST_PG_URL");
        admin
            .pool()
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        admin.close().await;
    }
    let url = replace_database(&admin_url, &name);
    let db = Db::connect(&url, DbOptions::default())
        .await
        .expect("open postgres test database");
    db.migrate().await.expect("migrate postgres test database");
    TestDb { db, url, dir: None }
}

/// `postgres://u@h:p/old?x` with the database replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("MOORING_TEST_PG_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// Define a test that runs once on SQLite and once on PostgreSQL:
///
/// ```ignore
/// mooring_core::db_test!(async fn counts_users(db: Db) { ... });
/// ```
/// expands to a module `counts_users` with tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! db_test {
    (async fn $name:ident($db:ident : Db) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: $crate::Db) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::testkit::sqlite().await;
                body(t.db.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::testkit::postgres().await;
                body(t.db.clone()).await;
            }
        }
    };
}

/// Run an `async fn flow(db: TestDb)` once on each backend:
/// `mooring_core::on_both_backends!(flow);` makes tests `flow::sqlite` and `flow::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($flow:ident) => {
        mod $flow {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$flow($crate::testkit::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$flow($crate::testkit::postgres().await).await;
            }
        }
    };
}

/// An admin of the default tenant (user `op`, signed in), as core's
/// authorization sees one.
pub fn operator() -> crate::identity::Principal {
    use crate::identity::{Principal, Role, Scope, Via};
    Principal {
        user_id: "op".into(),
        tenant_id: crate::DEFAULT_TENANT_ID.into(),
        role: Role::Admin,
        platform_admin: false,
        scope: Scope::Admin,
        via: Via::Session,
    }
}

/// The platform admin `ops@example.com` (password "correct horse
/// battery"), created or reset; returns its id.
pub async fn ops_admin(db: &crate::Db) -> String {
    match crate::users::ensure_admin(
        db,
        "ops@example.com",
        secrecy::SecretString::from("correct horse battery"),
    )
    .await
    .expect("create the admin")
    {
        crate::users::AdminOutcome::Created { id } | crate::users::AdminOutcome::Reset { id } => id,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_database(
                "postgres://me@127.0.0.1:5432/postgres?sslmode=disable",
                "t1"
            ),
            "postgres://me@127.0.0.1:5432/t1?sslmode=disable"
        );
    }
}
