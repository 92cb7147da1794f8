//! One error model, on both backends: constraint violations become errors
//! naming the field (never internal errors), job handlers' request errors
//! fail the job at once, and an audit event commits with its change.

use async_trait::async_trait;
use mooring_core::{
    audit,
    billing::{
        customers::{self, CustomerInput},
        products::{self, PriceInput, ProductInput},
        Viewer,
    },
    db_test,
    error::field_error,
    identity::{Principal, Role},
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
    users::{self, NewUser},
    CoreError, Db, ViolationKind, DEFAULT_TENANT_ID,
};
use secrecy::SecretString;

fn admin() -> Principal {
    mooring_core::testkit::operator()
}

fn billing_admin() -> Viewer {
    Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    }
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        name: "Sam".into(),
        email: email.into(),
        role: Role::Staff,
        status: None,
        password: SecretString::from("a long enough password"),
    }
}

fn product(sku: &str) -> ProductInput {
    ProductInput {
        name: Some(format!("Product {sku}")),
        kind: Some("addon".into()),
        sku: Some(sku.into()),
        billing_cycles: Some(vec![PriceInput {
            cycle: "monthly".into(),
            price: "2".parse().unwrap(),
            currency: "USD".into(),
        }]),
        metadata: None,
        status: None,
    }
}

fn customer(email: &str) -> CustomerInput {
    CustomerInput {
        name: Some("Jo".into()),
        email: Some(email.into()),
        ..Default::default()
    }
}

/// A unique violation, naming `field`.
fn assert_taken(e: &CoreError, field: &str) {
    assert!(
        matches!(
            e,
            CoreError::Violation {
                kind: ViolationKind::Unique,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.field(), Some(field), "{e:?}");
    assert_eq!(e.code(), "conflict");
    assert!(!e.is_internal());
    assert!(!e.to_string().contains("database"), "{e}");
}

db_test!(
    async fn duplicates_are_conflicts_naming_the_field(db: Db) {
        users::create(&db, &admin(), new_user("sam@example.com"), None)
            .await
            .unwrap();
        let e = users::create(&db, &admin(), new_user("SAM@example.com"), None)
            .await
            .unwrap_err();
        assert_taken(&e, "email");

        products::create(&db, &billing_admin(), "op", product("SKU-1"))
            .await
            .unwrap();
        let e = products::create(&db, &billing_admin(), "op", product("SKU-1"))
            .await
            .unwrap_err();
        assert_taken(&e, "sku");

        customers::create(&db, &billing_admin(), "op", customer("jo@example.com"))
            .await
            .unwrap();
        let e = customers::create(&db, &billing_admin(), "op", customer("jo@example.com"))
            .await
            .unwrap_err();
        assert_taken(&e, "email");
    }
);

db_test!(
    async fn a_missing_referenced_record_is_invalid_input_not_an_internal_error(db: Db) {
        let e: CoreError = sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, key_hash, created_at) \
             VALUES ('k1', 'no-such-tenant', 'k', 'h', '2026-01-01T00:00:00.000Z')",
        )
        .execute(db.pool())
        .await
        .unwrap_err()
        .into();
        assert!(
            matches!(
                e,
                CoreError::Violation {
                    kind: ViolationKind::ForeignKey,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), "invalid_input");
        assert!(!e.is_internal());
        // PostgreSQL names the constraint, so the field is known; SQLite does not.
        if db.backend() == mooring_core::Backend::Postgres {
            assert_eq!(e.field(), Some("tenantId"), "{e:?}");
            assert_eq!(e.to_string(), "no such tenant");
        }
    }
);

/// A job kind, the error its handler fails with, and the job's error code.
type Case = (&'static str, fn() -> CoreError, &'static str);

/// Fails every run with the error `fail` makes.
struct Failing(fn() -> CoreError);

#[async_trait]
impl JobHandler for Failing {
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
        Err((self.0)().into())
    }
}

db_test!(
    async fn request_errors_fail_a_job_at_once(db: Db) {
        let cases: [Case; 5] = [
            (
                "test.field",
                || field_error("name", "is required"),
                "invalid_input",
            ),
            ("test.not_found", || CoreError::NotFound, "not_found"),
            (
                "test.conflict",
                || CoreError::Conflict("already done".into()),
                "conflict",
            ),
            (
                "test.forbidden",
                || CoreError::Forbidden("not yours".into()),
                "forbidden",
            ),
            (
                "test.taken",
                || CoreError::Violation {
                    kind: ViolationKind::Unique,
                    field: Some("name".into()),
                    message: "a CloudPod with this name exists".into(),
                },
                "conflict",
            ),
        ];
        let mut reg = Registry::new();
        for (kind, fail, _) in cases {
            reg = reg.register(kind, Failing(fail));
        }
        let w = Worker::new(db.clone(), reg);
        for (kind, _, code) in cases {
            let id = jobs::enqueue_now(
                &db,
                NewJob::new(DEFAULT_TENANT_ID, kind, serde_json::json!({})).max_attempts(8),
            )
            .await
            .unwrap();
            assert!(w.run_one().await.unwrap());
            let job = jobs::load(&db, &id).await.unwrap();
            assert_eq!(
                (job.status.as_str(), job.attempt, job.error_code.as_deref()),
                ("failed", 1, Some(code)),
                "{kind}: {job:?}"
            );
        }
        // An unavailable dependency is still worth another try.
        let w = Worker::new(
            db.clone(),
            Registry::new().register(
                "test.unavailable",
                Failing(|| CoreError::Unavailable("the node did not answer".into())),
            ),
        );
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "test.unavailable", serde_json::json!({})),
        )
        .await
        .unwrap();
        w.run_one().await.unwrap();
        assert_eq!(jobs::load(&db, &id).await.unwrap().status, "queued");
    }
);

async fn users_named(db: &Db, email: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

db_test!(
    async fn an_audit_event_commits_with_its_change_or_not_at_all(db: Db) {
        // An event recorded in a transaction that rolls back is gone with it.
        let mut tx = db.begin_write().await.unwrap();
        audit::record_in(&mut tx, audit::NewEvent::new("test.rolled_back"))
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(audit::by_action(&db, "test.rolled_back")
            .await
            .unwrap()
            .is_empty());

        // A change whose audit event cannot be written does not happen: the
        // account and its event are one transaction.
        sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
            .execute(db.pool())
            .await
            .unwrap();
        let refused = users::create(&db, &admin(), new_user("kim@example.com"), None).await;
        sqlx::query("ALTER TABLE audit_events_away RENAME TO audit_events")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(refused.is_err());
        assert_eq!(users_named(&db, "kim@example.com").await, 0);

        // And when it commits, both are there, the chain intact.
        let u = users::create(&db, &admin(), new_user("kim@example.com"), None)
            .await
            .unwrap();
        let events = audit::by_action(&db, "user.created").await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].resource_id.as_deref(), Some(u.id.as_str()));
        assert_eq!(
            audit::verify(&db).await.unwrap(),
            audit::Verdict::Intact { events: 1 }
        );
    }
);
