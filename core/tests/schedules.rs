//! Recurring jobs and system events on both backends.

use mooring_core::{
    db_test,
    events::{self, EventFilter},
    identity::{Principal, Role},
    jobs::{
        self,
        schedule::{self, NewSchedule},
        NewJob, Registry, Worker,
    },
    paging::PageQuery,
    Db, DEFAULT_TENANT_ID,
};
use time::OffsetDateTime;

fn admin() -> Principal {
    mooring_core::testkit::operator()
}

fn every_minute(name: &str) -> NewSchedule {
    NewSchedule {
        tenant_id: DEFAULT_TENANT_ID.into(),
        name: name.into(),
        cron: "* * * * *".into(),
        kind: "system.noop".into(),
        payload: serde_json::json!({}),
        target: None,
    }
}

/// Make a schedule due `ago` in the past.
async fn due_since(db: &Db, id: &str, ago: time::Duration) -> String {
    let at = mooring_core::clock::format(OffsetDateTime::now_utc() - ago);
    sqlx::query("UPDATE schedules SET next_run_at = $1 WHERE id = $2")
        .bind(&at)
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
    at
}

async fn jobs_of(db: &Db, schedule_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT id, scheduled_for FROM jobs WHERE schedule_id = $1 ORDER BY scheduled_for",
    )
    .bind(schedule_id)
    .fetch_all(db.pool())
    .await
    .unwrap()
}

db_test!(
    async fn a_due_schedule_enqueues_one_job_per_run_and_moves_on(db: Db) {
        let s = schedule::ensure(&db, every_minute("ping")).await.unwrap();
        assert!(s.enabled);
        assert!(s.next_run_at > mooring_core::clock::now());
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            0,
            "not due yet"
        );
        let due = due_since(&db, &s.id, time::Duration::seconds(5)).await;
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            0,
            "taken once"
        );
        let js = jobs_of(&db, &s.id).await;
        assert_eq!(js.len(), 1);
        assert_eq!(js[0].1, due, "the job names the run it is");
        let after = schedule::get(&db, &admin(), &s.id).await.unwrap();
        assert_eq!(after.last_run_at.as_deref(), Some(due.as_str()));
        assert_eq!(after.last_job_id.as_deref(), Some(js[0].0.as_str()));
        assert!(after.next_run_at > mooring_core::clock::now());
        let job = jobs::load(&db, &js[0].0).await.unwrap();
        assert_eq!(
            (job.kind.as_str(), job.status.as_str()),
            ("system.noop", "queued")
        );
    }
);

db_test!(
    async fn concurrent_schedulers_enqueue_each_run_exactly_once(db: Db) {
        let s = schedule::ensure(&db, every_minute("race")).await.unwrap();
        for round in 0..5 {
            due_since(&db, &s.id, time::Duration::seconds(10 + round)).await;
            let ticks = (0..8).map(|_| {
                let db = db.clone();
                tokio::spawn(async move { schedule::tick(&db, OffsetDateTime::now_utc()).await })
            });
            let mut taken = 0;
            for t in ticks {
                taken += t.await.unwrap().unwrap();
            }
            assert_eq!(
                taken, 1,
                "round {round}: one of eight schedulers takes the run"
            );
        }
        assert_eq!(jobs_of(&db, &s.id).await.len(), 5);
    }
);

db_test!(
    async fn a_second_job_for_one_run_is_refused_by_the_database(db: Db) {
        let s = schedule::ensure(&db, every_minute("unique")).await.unwrap();
        let due = due_since(&db, &s.id, time::Duration::seconds(1)).await;
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            1
        );
        // Put the schedule back as if the first enqueue never moved it.
        sqlx::query("UPDATE schedules SET next_run_at = $1 WHERE id = $2")
            .bind(&due)
            .bind(&s.id)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            0
        );
        assert_eq!(jobs_of(&db, &s.id).await.len(), 1);
    }
);

db_test!(
    async fn missed_runs_enqueue_once_and_paused_schedules_wait(db: Db) {
        let s = schedule::ensure(&db, every_minute("missed")).await.unwrap();
        due_since(&db, &s.id, time::Duration::hours(3)).await;
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            jobs_of(&db, &s.id).await.len(),
            1,
            "three hours down is one run, not 180"
        );

        let paused = schedule::set_enabled(&db, &admin(), &s.id, false)
            .await
            .unwrap();
        assert!(!paused.enabled);
        due_since(&db, &s.id, time::Duration::seconds(5)).await;
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            0
        );
        let resumed = schedule::set_enabled(&db, &admin(), &s.id, true)
            .await
            .unwrap();
        assert!(resumed.enabled && resumed.next_run_at > mooring_core::clock::now());

        let job = schedule::run_now(&db, &admin(), &s.id).await.unwrap();
        assert_eq!(jobs::load(&db, &job).await.unwrap().kind, "system.noop");
        let mut staff = admin();
        staff.role = Role::Staff;
        assert!(schedule::set_enabled(&db, &staff, &s.id, false)
            .await
            .is_err());
        let mut other = admin();
        other.tenant_id = "another-tenant".into();
        assert!(matches!(
            schedule::get(&db, &other, &s.id).await,
            Err(mooring_core::CoreError::NotFound)
        ));
    }
);

db_test!(
    async fn bad_cron_expressions_are_refused_clearly(db: Db) {
        for (expr, says) in [
            ("* * *", "5 fields"),
            ("61 * * * *", "not a valid cron expression"),
            ("every day", "5 fields"),
        ] {
            let mut s = every_minute("bad");
            s.cron = expr.into();
            let err = schedule::ensure(&db, s).await.unwrap_err().to_string();
            assert!(err.contains(says), "{expr}: {err}");
        }
        let mut s = every_minute("seconds");
        s.cron = "*/10 * * * * *".into();
        let ok = schedule::ensure(&db, s).await.unwrap();
        assert!(
            ok.describe().to_lowercase().contains("10"),
            "{}",
            ok.describe()
        );
    }
);

db_test!(
    async fn failures_and_abandoned_jobs_become_system_events(db: Db) {
        let failed = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "no.such.kind", serde_json::json!({})),
        )
        .await
        .unwrap();
        Worker::new(db.clone(), Registry::new())
            .run_one()
            .await
            .unwrap();
        let abandoned = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "system.noop", serde_json::json!({})),
        )
        .await
        .unwrap();
        jobs::claim(&db, "dead-worker", time::Duration::seconds(-1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(jobs::requeue_expired(&db).await.unwrap(), 1);

        let page = PageQuery::default().check().unwrap();
        let (all, total) = events::list(&db, &admin(), &EventFilter::default(), page)
            .await
            .unwrap();
        assert_eq!(total, 2, "{all:?}");
        let requeued = &all[0];
        assert_eq!(
            (
                requeued.kind.as_str(),
                requeued.level.as_str(),
                requeued.job_id.as_deref()
            ),
            ("job.requeued", "warning", Some(abandoned.as_str()))
        );
        let fail = &all[1];
        assert_eq!(
            (
                fail.kind.as_str(),
                fail.level.as_str(),
                fail.source.as_str(),
                fail.job_id.as_deref()
            ),
            ("job.failed", "error", "queue", Some(failed.as_str()))
        );
        assert!(fail.message.contains("no handler"), "{}", fail.message);

        let errors = EventFilter {
            level: Some("error".into()),
            ..Default::default()
        };
        let (only, n) = events::list(&db, &admin(), &errors, page).await.unwrap();
        assert_eq!((n, only.len()), (1, 1));
        let bad = EventFilter {
            source: Some("kitchen".into()),
            ..Default::default()
        };
        assert!(events::list(&db, &admin(), &bad, page).await.is_err());
        let mut customer = admin();
        customer.role = Role::Customer;
        assert!(events::list(&db, &customer, &EventFilter::default(), page)
            .await
            .is_err());
    }
);

db_test!(
    async fn a_job_whose_worker_dies_on_every_attempt_fails_as_worker_lost(db: Db) {
        let id = jobs::enqueue_now(
            &db,
            NewJob::new(DEFAULT_TENANT_ID, "system.noop", serde_json::json!({})).max_attempts(2),
        )
        .await
        .unwrap();
        for attempt in 1..=2 {
            let j = jobs::claim(&db, "dying-worker", time::Duration::seconds(-1))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((j.id.as_str(), j.attempt), (id.as_str(), attempt));
            jobs::requeue_expired(&db).await.unwrap();
        }
        let job = jobs::load(&db, &id).await.unwrap();
        assert_eq!(
            (job.status.as_str(), job.error_code.as_deref()),
            ("failed", Some("worker_lost"))
        );
        assert!(job.finished_at.is_some());
        assert_eq!(
            job.error_message.as_deref(),
            Some("its worker stopped during each of its 2 attempts")
        );
    }
);
