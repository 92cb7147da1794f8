//! Idempotency keys on both backends: claim, replay, mismatch, a duplicate
//! while the first runs, a crashed holder's claim taken over, expiry, and
//! the scheduled sweep.

use mooring_core::{
    db_test,
    idempotency::{self, Begin, Scope, StoredResponse},
    jobs::{self, schedule, Registry, Worker},
    CoreError, Db, DEFAULT_TENANT_ID,
};
use time::{Duration, OffsetDateTime};

fn scope(owner: &str) -> Scope {
    Scope {
        tenant_id: DEFAULT_TENANT_ID.into(),
        owner: owner.into(),
    }
}

fn created(body: &[u8]) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), "/api/orders/1".into()),
        ],
        body: body.to_vec(),
    }
}

async fn fresh(db: &Db, s: &Scope, key: &str, fp: &str) -> idempotency::Guard {
    match idempotency::begin(db, s, key, fp).await.unwrap() {
        Begin::Fresh(g) => g,
        other => panic!("expected a fresh claim of {key}, got {other:?}"),
    }
}

async fn count(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

db_test!(
    async fn a_completed_key_replays_its_answer_and_refuses_another_request(db: Db) {
        let s = scope("user:u1");
        let fp = idempotency::fingerprint("POST", "/api/orders", br#"{"a":1}"#);
        let g = fresh(&db, &s, "k-1", &fp).await;
        assert_eq!(g.key(), "k-1");
        let answer = created(br#"{"id":"o1"}"#);
        assert!(idempotency::complete(g, &answer).await.unwrap());
        for _ in 0..2 {
            match idempotency::begin(&db, &s, "k-1", &fp).await.unwrap() {
                Begin::Replay(r) => assert_eq!(r, answer),
                other => panic!("expected a replay, got {other:?}"),
            }
        }
        let other = idempotency::fingerprint("POST", "/api/orders", br#"{"a":2}"#);
        assert!(matches!(
            idempotency::begin(&db, &s, "k-1", &other).await.unwrap(),
            Begin::Mismatch
        ));
        let elsewhere = idempotency::fingerprint("POST", "/api/customers", br#"{"a":1}"#);
        assert!(matches!(
            idempotency::begin(&db, &s, "k-1", &elsewhere)
                .await
                .unwrap(),
            Begin::Mismatch
        ));
        // A refusal is an answer too, and bodies that are not UTF-8 survive.
        let g = fresh(&db, &s, "k-2", &fp).await;
        let refused = StoredResponse {
            status: 422,
            headers: vec![],
            body: vec![0xff, 0x00, 0xfe],
        };
        assert!(idempotency::complete(g, &refused).await.unwrap());
        match idempotency::begin(&db, &s, "k-2", &fp).await.unwrap() {
            Begin::Replay(r) => assert_eq!(r, refused),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert_eq!(count(&db).await, 2);
    }
);

db_test!(
    async fn keys_belong_to_one_tenant_and_credential(db: Db) {
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let g = fresh(&db, &scope("user:u1"), "same", &fp).await;
        idempotency::complete(g, &created(b"1")).await.unwrap();
        // Another credential, even with another body, is not refused.
        let other_fp = idempotency::fingerprint("POST", "/api/orders", b"{\"x\":1}");
        let g = fresh(&db, &scope("token:t1"), "same", &other_fp).await;
        idempotency::complete(g, &created(b"2")).await.unwrap();
        let other_tenant = Scope {
            tenant_id: "another-tenant".into(),
            owner: "user:u1".into(),
        };
        let g = fresh(&db, &other_tenant, "same", &fp).await;
        idempotency::complete(g, &created(b"3")).await.unwrap();
        match idempotency::begin(&db, &scope("token:t1"), "same", &other_fp)
            .await
            .unwrap()
        {
            Begin::Replay(r) => assert_eq!(r.body, b"2"),
            other => panic!("{other:?}"),
        }
        assert_eq!(count(&db).await, 3);
    }
);

db_test!(
    async fn a_duplicate_while_the_first_runs_waits_and_an_abandoned_key_runs_again(db: Db) {
        let s = scope("key:k1");
        let fp = idempotency::fingerprint("POST", "/api/apikeys", b"{}");
        let g = fresh(&db, &s, "k", &fp).await;
        assert!(matches!(
            idempotency::begin(&db, &s, "k", &fp).await.unwrap(),
            Begin::InProgress
        ));
        assert!(g.renew().await.unwrap());
        // A 5xx: given up, so the retry runs the request again.
        idempotency::abandon(g).await.unwrap();
        assert_eq!(count(&db).await, 0);
        let g = fresh(&db, &s, "k", &fp).await;
        // A guard dropped unsettled (a panic) releases the key too.
        drop(g);
        for _ in 0..100 {
            if count(&db).await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(count(&db).await, 0, "a dropped guard releases its key");
        fresh(&db, &s, "k", &fp).await;
    }
);

db_test!(
    async fn a_dead_holders_claim_is_taken_over_after_its_lease_and_fenced(db: Db) {
        let s = scope("user:u1");
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let now = OffsetDateTime::now_utc();
        let first = fresh(&db, &s, "k", &fp).await;
        let before_lease = now + idempotency::LEASE - Duration::seconds(5);
        assert!(matches!(
            idempotency::begin_at(&db, &s, "k", &fp, before_lease)
                .await
                .unwrap(),
            Begin::InProgress
        ));
        let after_lease = now + idempotency::LEASE + Duration::seconds(5);
        let second = match idempotency::begin_at(&db, &s, "k", &fp, after_lease)
            .await
            .unwrap()
        {
            Begin::Fresh(g) => g,
            other => panic!("the lease ran out: expected a take-over, got {other:?}"),
        };
        // The first holder comes back late: it stores nothing.
        assert!(!first.renew().await.unwrap());
        assert!(!idempotency::complete(first, &created(b"late"))
            .await
            .unwrap());
        assert!(idempotency::complete(second, &created(b"second"))
            .await
            .unwrap());
        match idempotency::begin(&db, &s, "k", &fp).await.unwrap() {
            Begin::Replay(r) => assert_eq!(r.body, b"second"),
            other => panic!("{other:?}"),
        }
        // Another body after a crash is still another request.
        let crashed = fresh(&db, &s, "k2", &fp).await;
        std::mem::forget(crashed); // its process died: nothing releases the key
        let fp2 = idempotency::fingerprint("POST", "/api/orders", b"[]");
        assert!(matches!(
            idempotency::begin_at(&db, &s, "k2", &fp2, after_lease)
                .await
                .unwrap(),
            Begin::Mismatch
        ));
    }
);

db_test!(
    async fn concurrent_claims_of_one_key_give_it_to_exactly_one(db: Db) {
        let s = scope("user:u1");
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let tries = (0..8).map(|_| {
            let (db, s, fp) = (db.clone(), s.clone(), fp.clone());
            tokio::spawn(async move { idempotency::begin(&db, &s, "race", &fp).await })
        });
        let mut fresh_guards = Vec::new();
        let mut waiting = 0;
        for t in tries {
            match t.await.unwrap().unwrap() {
                Begin::Fresh(g) => fresh_guards.push(g),
                Begin::InProgress => waiting += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((fresh_guards.len(), waiting), (1, 7));
        idempotency::complete(fresh_guards.pop().unwrap(), &created(b"one"))
            .await
            .unwrap();
    }
);

db_test!(
    async fn keys_expire_after_24_hours(db: Db) {
        let s = scope("user:u1");
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let g = fresh(&db, &s, "k", &fp).await;
        idempotency::complete(g, &created(b"first")).await.unwrap();
        let almost = OffsetDateTime::now_utc() + idempotency::TTL - Duration::minutes(1);
        assert!(matches!(
            idempotency::begin_at(&db, &s, "k", &fp, almost)
                .await
                .unwrap(),
            Begin::Replay(_)
        ));
        // A day later the key is new again, whatever the body (the sweep may not have run).
        let later = OffsetDateTime::now_utc() + idempotency::TTL + Duration::minutes(1);
        let other = idempotency::fingerprint("POST", "/api/orders", b"{\"b\":1}");
        match idempotency::begin_at(&db, &s, "k", &other, later)
            .await
            .unwrap()
        {
            Begin::Fresh(g) => idempotency::abandon(g).await.unwrap(),
            other => panic!("an expired key is new: {other:?}"),
        }
    }
);

db_test!(
    async fn the_sweep_deletes_expired_keys_and_keeps_the_rest(db: Db) {
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let now = OffsetDateTime::now_utc();
        let old = now - idempotency::TTL - Duration::hours(1);
        for (key, at) in [("old-done", old), ("new-done", now)] {
            match idempotency::begin_at(&db, &scope("user:u1"), key, &fp, at)
                .await
                .unwrap()
            {
                Begin::Fresh(g) => idempotency::complete(g, &created(b"x")).await.unwrap(),
                other => panic!("{other:?}"),
            };
        }
        // An old claim whose holder died long ago, and a new one still running.
        let dead = match idempotency::begin_at(&db, &scope("user:u1"), "old-dead", &fp, old)
            .await
            .unwrap()
        {
            Begin::Fresh(g) => g,
            other => panic!("{other:?}"),
        };
        std::mem::forget(dead);
        let running = fresh(&db, &scope("user:u1"), "running", &fp).await;
        assert_eq!(idempotency::sweep(&db, now).await.unwrap(), 2);
        let mut left: Vec<String> =
            sqlx::query_scalar("SELECT idem_key FROM idempotency_keys ORDER BY idem_key")
                .fetch_all(db.pool())
                .await
                .unwrap();
        left.sort();
        assert_eq!(left, ["new-done", "running"]);
        idempotency::abandon(running).await.unwrap();
    }
);

db_test!(
    async fn the_idempotency_sweep_schedule_runs_the_sweep(db: Db) {
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        let old = OffsetDateTime::now_utc() - idempotency::TTL - Duration::hours(1);
        match idempotency::begin_at(&db, &scope("user:u1"), "old", &fp, old)
            .await
            .unwrap()
        {
            Begin::Fresh(g) => idempotency::complete(g, &created(b"x")).await.unwrap(),
            other => panic!("{other:?}"),
        };
        let g = fresh(&db, &scope("user:u1"), "new", &fp).await;
        idempotency::complete(g, &created(b"y")).await.unwrap();

        let s = schedule::ensure(&db, idempotency::schedule())
            .await
            .unwrap();
        assert_eq!(
            (s.name.as_str(), s.kind.as_str()),
            ("idempotency-sweep", idempotency::SWEEP_KIND)
        );
        mooring_core::jobs::schedule::parse(&s.cron).unwrap();
        sqlx::query("UPDATE schedules SET next_run_at = $1 WHERE id = $2")
            .bind(mooring_core::clock::format(
                OffsetDateTime::now_utc() - Duration::seconds(5),
            ))
            .bind(&s.id)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            schedule::tick(&db, OffsetDateTime::now_utc())
                .await
                .unwrap(),
            1
        );
        let worker = Worker::new(
            db.clone(),
            Registry::new().register(idempotency::SWEEP_KIND, idempotency::Sweep),
        );
        assert!(worker.run_one().await.unwrap());
        let job_id: String = sqlx::query_scalar("SELECT id FROM jobs WHERE schedule_id = $1")
            .bind(&s.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        let job = jobs::load(&db, &job_id).await.unwrap();
        assert_eq!(job.status, "succeeded", "{job:?}");
        let left: Vec<String> = sqlx::query_scalar("SELECT idem_key FROM idempotency_keys")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(left, ["new"]);
    }
);

db_test!(
    async fn a_bad_key_is_a_field_error(db: Db) {
        let fp = idempotency::fingerprint("POST", "/api/orders", b"{}");
        for bad in ["", "caf\u{e9}", "new\nline"] {
            let e = idempotency::begin(&db, &scope("user:u1"), bad, &fp)
                .await
                .unwrap_err();
            assert!(matches!(e, CoreError::Field { .. }), "{bad:?}: {e}");
        }
        let long = "k".repeat(256);
        assert!(idempotency::begin(&db, &scope("user:u1"), &long, &fp)
            .await
            .is_err());
        assert_eq!(count(&db).await, 0);
    }
);
