//! Rules the hardening issue (#12) put into core, on both backends: work for
//! an ended service is dropped, plan changes stay in the product's type and
//! are dunned, a product's settings are checked for its type, a pod whose
//! provisioning failed for good says so.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use async_trait::async_trait;
use mooring_core::{
    billing::{
        invoices,
        lifecycle::{self, Policy, Provisioner, ServiceJobs},
        products::{self, ProductInput},
        subscriptions::{self, Subscription},
    },
    clock,
    cloudpods::{self, CloudPods, PodInput},
    jobs::{JobContext, JobError, Registry, Worker},
    nodes::{keys::Vault, servers::Nodes},
    on_both_backends,
    testkit::{self, shop, shop::admin},
    CoreError, Db, DEFAULT_TENANT_ID,
};
use time::{Duration, OffsetDateTime};

fn product(name: &str, kind: &str, sku: &str, metadata: serde_json::Value) -> ProductInput {
    ProductInput {
        metadata: Some(metadata),
        ..shop::monthly(name, kind, sku, "10")
    }
}

/// A paid monthly subscription to a new CloudPod product: `(product, customer, subscription)`.
async fn paid_subscription(db: &Db) -> (String, String, String) {
    let p = shop::product(
        db,
        &admin(),
        product("Mini", "cloudpod", "MINI", serde_json::json!({})),
    )
    .await;
    let c = shop::customer(db, &admin(), "Ann", "ann@example.com").await;
    let (_, inv, sub) = shop::order(db, &admin(), &c.id, &p.id).await;
    invoices::set_status(db, &admin(), "op", &inv.id, "paid")
        .await
        .unwrap();
    (p.id, c.id, sub)
}

async fn jobs_of(db: &Db, sub: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, status FROM jobs WHERE target_id = $1 ORDER BY created_at, kind")
        .bind(sub)
        .fetch_all(db.pool())
        .await
        .unwrap()
}

/// Counts what the provisioner was asked to do.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Provisioner for Counting {
    async fn run(&self, _: &JobContext, _: &str, _: &Subscription) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn cancelling_drops_queued_service_work(t: testkit::TestDb) {
    let db = t.db.clone();
    let (_, _, sub) = paid_subscription(&db).await;
    assert_eq!(
        jobs_of(&db, &sub).await,
        vec![("service.provision".to_string(), "queued".to_string())]
    );
    subscriptions::cancel(&db, &admin(), "op", &sub, false)
        .await
        .unwrap();
    let jobs = jobs_of(&db, &sub).await;
    assert!(
        jobs.contains(&("service.provision".into(), "cancelled".into())),
        "{jobs:?}"
    );
    assert!(
        jobs.contains(&("service.terminate".into(), "queued".into())),
        "{jobs:?}"
    );
    // Work queued some other way for the ended service is dropped when it
    // runs; its termination is done.
    let s = subscriptions::get(&db, &admin(), &sub).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    mooring_core::jobs::enqueue(
        &db,
        &mut tx,
        mooring_core::jobs::NewJob::new(
            DEFAULT_TENANT_ID,
            subscriptions::PROVISION,
            serde_json::json!({ "subscriptionId": s.id, "productId": s.product_id,
                "productType": "cloudpod", "customerId": s.customer_id }),
        )
        .target("subscription", &s.id),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let counting = Counting::default();
    let services = ServiceJobs::new().with("cloudpod", counting.clone());
    let registry = [
        subscriptions::PROVISION,
        subscriptions::TERMINATE,
        subscriptions::SUSPEND,
    ]
    .into_iter()
    .fold(Registry::new(), |r, k| r.register(k, services.clone()));
    let worker = Worker::new(db.clone(), registry);
    while worker.run_one().await.unwrap() {}
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        1,
        "only the termination reached the provisioner"
    );
    let jobs = jobs_of(&db, &sub).await;
    assert!(
        jobs.iter().all(|(_, status)| status != "queued"),
        "{jobs:?}"
    );
}

on_both_backends!(cancelling_drops_queued_service_work);

async fn plan_changes_stay_in_type_and_are_dunned(t: testkit::TestDb) {
    let db = t.db.clone();
    let (_, _, sub) = paid_subscription(&db).await;
    let now = OffsetDateTime::now_utc();
    sqlx::query("UPDATE subscriptions SET period_start = $1, renews_at = $2 WHERE id = $3")
        .bind(clock::format(now - Duration::days(15)))
        .bind(clock::format(now + Duration::days(15)))
        .bind(&sub)
        .execute(db.pool())
        .await
        .unwrap();
    let site = products::create(
        &db,
        &admin(),
        "op",
        product("Site", "wordpress", "WP", serde_json::json!({})),
    )
    .await
    .unwrap();
    let e = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &site.id, now)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CoreError::Field { field, message } if field == "productId" && message.contains("another cloudpod product")),
        "{e:?}"
    );
    let maxi = products::create(
        &db,
        &admin(),
        "op",
        shop::monthly("Maxi", "cloudpod", "MAXI", "30"),
    )
    .await
    .unwrap();
    let (_, inv) = subscriptions::change_plan_at(&db, &admin(), "op", &sub, &maxi.id, now)
        .await
        .unwrap();
    assert_eq!(inv.subscription_id.as_deref(), Some(sub.as_str()));
    assert_eq!(inv.status, "unpaid");
    let due = clock::parse(&inv.due_at).unwrap();
    assert_eq!(
        (due - now + Duration::seconds(1)).whole_days(),
        subscriptions::CHANGE_DAYS_TO_PAY
    );
    // Unpaid past its grace: dunning suspends the service.
    let policy = Policy::default();
    lifecycle::sweep(
        &db,
        policy,
        due + Duration::days(policy.suspend_after_days + 1),
    )
    .await
    .unwrap();
    let status = |db: Db, sub: String| async move {
        sqlx::query_scalar::<_, String>("SELECT status FROM subscriptions WHERE id = $1")
            .bind(sub)
            .fetch_one(db.pool())
            .await
            .unwrap()
    };
    assert_eq!(status(db.clone(), sub.clone()).await, "suspended");
    // Paying the change brings it back (nothing else is overdue).
    invoices::set_status(&db, &admin(), "op", &inv.id, "paid")
        .await
        .unwrap();
    assert_eq!(status(db.clone(), sub.clone()).await, "active");
    let periods: i64 = sqlx::query_scalar("SELECT periods_paid FROM subscriptions WHERE id = $1")
        .bind(&sub)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(periods, 1, "a plan change is not a period paid");
}

on_both_backends!(plan_changes_stay_in_type_and_are_dunned);

async fn product_settings_are_checked_for_their_type(t: testkit::TestDb) {
    let db = t.db.clone();
    for (meta, field) in [
        (serde_json::json!({ "cpu": 0 }), "metadata.cpu"),
        (serde_json::json!({ "diskGb": "big" }), "metadata.diskGb"),
        (
            serde_json::json!({ "template": "windows" }),
            "metadata.template",
        ),
        (
            serde_json::json!({ "customerActions": ["destroy"] }),
            "metadata.customerActions",
        ),
    ] {
        let e = products::create(&db, &admin(), "op", product("Bad", "cloudpod", "BAD", meta))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::Field { field: f, .. } if f == field),
            "{field}: {e:?}"
        );
    }
    let (p, _, _) = paid_subscription(&db).await;
    let e = products::update(
        &db,
        &admin(),
        "op",
        &p,
        ProductInput {
            metadata: Some(serde_json::json!({ "memoryMb": -1 })),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, CoreError::Field { field, .. } if field == "metadata.memoryMb"),
        "{e:?}"
    );
    // In use, it keeps its type.
    let e = products::update(
        &db,
        &admin(),
        "op",
        &p,
        ProductInput {
            kind: Some("wordpress".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CoreError::Conflict(_)), "{e:?}");
}

on_both_backends!(product_settings_are_checked_for_their_type);

async fn a_pod_that_cannot_be_provisioned_is_failed(t: testkit::TestDb) {
    let db = t.db.clone();
    let (p, c, _) = paid_subscription(&db).await;
    let (pod, job) = cloudpods::create(
        &db,
        &admin(),
        "op",
        PodInput {
            customer_id: Some(c),
            product_id: Some(p),
            name: Some("nowhere".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // No hypervisor anywhere: the last attempt fails, and the pod says so.
    sqlx::query("UPDATE jobs SET max_attempts = 1 WHERE id = $1")
        .bind(&job)
        .execute(db.pool())
        .await
        .unwrap();
    let pods = CloudPods {
        nodes: Nodes::new(db.clone(), Vault::new([9; 32])),
    };
    let worker = Worker::new(
        db.clone(),
        Registry::new().register(cloudpods::PROVISION, pods),
    );
    while worker.run_one().await.unwrap() {}
    let after = cloudpods::load(&db, &pod.id).await.unwrap();
    assert_eq!(after.status, "failed");
    assert!(after.last_error.is_some_and(|e| !e.is_empty()));
}

on_both_backends!(a_pod_that_cannot_be_provisioned_is_failed);
