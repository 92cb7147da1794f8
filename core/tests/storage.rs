//! Storage behaves the same on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use mooring_core::{db_test, users, Backend, Db};
use secrecy::SecretString;
use sqlx::Row;

/// Tables and their columns (with a coarse type) as the database reports them.
async fn schema(db: &Db) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows =
        match db.backend() {
            Backend::Sqlite => {
                sqlx::query(
                    "SELECT m.name AS tbl, p.name AS col, p.type AS ty \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name <> '_sqlx_migrations'",
                )
                .fetch_all(db.pool())
                .await
            }
            Backend::Postgres => sqlx::query(
                "SELECT table_name::text AS tbl, column_name::text AS col, data_type::text AS ty \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(db.pool())
            .await,
        }
        .expect("read schema");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in rows {
        let ty: String = r.get("ty");
        out.entry(r.get("tbl"))
            .or_default()
            .insert(r.get("col"), coarse_type(&ty).to_string());
    }
    out
}

/// Map each backend's type names onto the few kinds Mooring stores.
fn coarse_type(ty: &str) -> &'static str {
    let ty = ty.to_ascii_lowercase();
    if ty.contains("bool") {
        "bool"
    } else if ty.contains("int") {
        "integer"
    } else if ty.contains("text") || ty.contains("char") {
        "text"
    } else if ty.contains("byte") || ty.contains("blob") {
        "bytes"
    } else if ty.contains("real") || ty.contains("double") || ty.contains("float") {
        "float"
    } else {
        "other"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_have_the_same_tables_and_columns() {
    let lite = mooring_core::testkit::sqlite().await;
    let pg = mooring_core::testkit::postgres().await;
    let a = schema(&lite.db).await;
    let b = schema(&pg.db).await;
    assert!(
        a.contains_key("users") && a.contains_key("tenants"),
        "{a:?}"
    );
    assert_eq!(
        a, b,
        "migrations/sqlite and migrations/postgres must define the same tables, columns and kinds"
    );
    assert!(
        !a.values().flat_map(|c| c.values()).any(|t| t == "other"),
        "a column uses a type outside the portable set: {a:?}"
    );
}

#[test]
fn both_migration_sets_have_the_same_files() {
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/../migrations/{dir}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

db_test!(
    async fn migrations_are_idempotent_and_seed_the_default_tenant(db: Db) {
        db.migrate().await.expect("second migrate is a no-op");
        let status = db.migration_status().await.unwrap();
        assert!(status.up_to_date(), "{status:?}");
        let name: String = sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
            .bind(mooring_core::DEFAULT_TENANT_ID)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(name, "Default");
    }
);

db_test!(
    async fn placeholders_booleans_and_text_round_trip(db: Db) {
        // $N placeholders in order, a flag, and a text time go in and come out alike.
        let now = mooring_core::clock::now();
        sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, is_platform_admin, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'staff', $6, 'active', $7, $7)",
    )
    .bind("u-1")
    .bind(mooring_core::DEFAULT_TENANT_ID)
    .bind("staff@example.com")
    .bind("Staff Member")
    .bind("x")
    .bind(mooring_core::db::flag(false))
    .bind(&now)
    .execute(db.pool())
    .await
    .unwrap();
        let row = sqlx::query(
            "SELECT is_platform_admin, created_at, updated_at FROM users WHERE id = $1",
        )
        .bind("u-1")
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert!(!mooring_core::db::is_set(
            row.get::<i64, _>("is_platform_admin")
        ));
        let admins: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_platform_admin = $1")
                .bind(mooring_core::db::flag(false))
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(admins, 1);
        assert_eq!(row.get::<String, _>("created_at"), now);
        assert_eq!(row.get::<String, _>("updated_at"), now);
    }
);

db_test!(
    async fn unique_and_check_constraints_hold(db: Db) {
        let insert = |email: &'static str, role: &'static str| {
            let db = db.clone();
            async move {
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, email, name, password_hash, role, status, \
                 created_at, updated_at) VALUES ($1, $2, $3, 'n', 'x', $4, 'active', 't', 't')",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(mooring_core::DEFAULT_TENANT_ID)
                .bind(email)
                .bind(role)
                .execute(db.pool())
                .await
            }
        };
        insert("a@example.com", "staff").await.unwrap();
        assert!(
            insert("a@example.com", "staff").await.is_err(),
            "duplicate email accepted"
        );
        assert!(
            insert("b@example.com", "root").await.is_err(),
            "unknown role accepted"
        );
    }
);

db_test!(
    async fn ensure_admin_creates_then_resets(db: Db) {
        use mooring_core::users::AdminOutcome;
        assert_eq!(users::count(&db).await.unwrap(), 0);
        let first = users::ensure_admin(
            &db,
            "Admin@Example.com",
            SecretString::from("first password 1"),
        )
        .await
        .unwrap();
        let AdminOutcome::Created { id } = first else {
            panic!("expected Created, got {first:?}")
        };
        let again = users::ensure_admin(
            &db,
            "admin@example.com",
            SecretString::from("second password 2"),
        )
        .await
        .unwrap();
        assert_eq!(again, AdminOutcome::Reset { id });
        assert_eq!(users::count(&db).await.unwrap(), 1);
        let hash = users::password_hash_of(&db, "admin@example.com")
            .await
            .unwrap()
            .unwrap();
        assert!(mooring_core::password::verify(
            SecretString::from("second password 2"),
            hash.clone()
        )
        .await
        .unwrap());
        assert!(
            !mooring_core::password::verify(SecretString::from("first password 1"), hash)
                .await
                .unwrap()
        );
        let short =
            users::ensure_admin(&db, "admin@example.com", SecretString::from("short")).await;
        assert!(
            matches!(&short, Err(mooring_core::CoreError::Field { field, .. }) if field == "password"),
            "{short:?}"
        );
    }
);
