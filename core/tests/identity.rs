//! Identity storage on both backends: sign-in throttling, refresh rotation,
//! sessions, and the audit chain.

use mooring_core::{
    audit::{self, NewEvent, Verdict},
    db_test,
    identity::{
        login::{self, LoginOutcome, MAX_PER_ACCOUNT},
        refresh::{self, RefreshError},
        session_store::{self, SqlSessionStore},
    },
    users, Db,
};
use secrecy::SecretString;
use tower_sessions_core::{session::Record, SessionStore};

async fn admin(db: &Db) -> String {
    mooring_core::testkit::ops_admin(db).await
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

db_test!(
    async fn sign_in_checks_the_password_and_locks_after_repeated_failures(db: Db) {
        let id = admin(&db).await;
        match login::attempt(
            &db,
            "OPS@example.com",
            pw("correct horse battery"),
            Some("10.0.0.1"),
        )
        .await
        .unwrap()
        {
            LoginOutcome::Ok(u) => assert_eq!(u.id, id),
            other => panic!("expected Ok, got {other:?}"),
        }
        for _ in 0..MAX_PER_ACCOUNT {
            assert!(matches!(
                login::attempt(&db, "ops@example.com", pw("wrong"), Some("10.0.0.2"))
                    .await
                    .unwrap(),
                LoginOutcome::Invalid
            ));
        }
        // Locked now, even with the right password, and it says for how long.
        match login::attempt(
            &db,
            "ops@example.com",
            pw("correct horse battery"),
            Some("10.0.0.3"),
        )
        .await
        .unwrap()
        {
            LoginOutcome::Locked { retry_after_secs } => {
                assert!((1..=900).contains(&retry_after_secs))
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        // Another account is unaffected; unknown accounts are just invalid.
        assert!(matches!(
            login::attempt(&db, "nobody@example.com", pw("whatever pass"), None)
                .await
                .unwrap(),
            LoginOutcome::Invalid
        ));
    }
);

db_test!(
    async fn one_client_address_is_throttled_across_accounts(db: Db) {
        admin(&db).await;
        for i in 0..login::MAX_PER_CLIENT {
            let email = format!("guess{i}@example.com");
            assert!(matches!(
                login::attempt(&db, &email, pw("x"), Some("192.0.2.9"))
                    .await
                    .unwrap(),
                LoginOutcome::Invalid
            ));
        }
        assert!(matches!(
            login::attempt(
                &db,
                "ops@example.com",
                pw("correct horse battery"),
                Some("192.0.2.9")
            )
            .await
            .unwrap(),
            LoginOutcome::Locked { .. }
        ));
        // The same account from another address still signs in.
        assert!(matches!(
            login::attempt(
                &db,
                "ops@example.com",
                pw("correct horse battery"),
                Some("192.0.2.10")
            )
            .await
            .unwrap(),
            LoginOutcome::Ok(_)
        ));
    }
);

db_test!(
    async fn refresh_tokens_rotate_and_reuse_revokes_the_family(db: Db) {
        let id = admin(&db).await;
        let t1 = refresh::issue(&db, &id).await.unwrap();
        let (who, t2) = refresh::rotate(&db, &t1).await.unwrap().unwrap();
        assert_eq!(who, id);
        assert_ne!(t1, t2);
        // t1 is spent: presenting it again is reuse, and it burns t2 as well.
        assert_eq!(
            refresh::rotate(&db, &t1).await.unwrap(),
            Err(RefreshError::Reused)
        );
        assert_eq!(
            refresh::rotate(&db, &t2).await.unwrap(),
            Err(RefreshError::Invalid)
        );
        assert_eq!(
            refresh::rotate(&db, "mrt_unknown").await.unwrap(),
            Err(RefreshError::Invalid)
        );
        // Another family is untouched by that.
        let other = refresh::issue(&db, &id).await.unwrap();
        assert!(refresh::rotate(&db, &other).await.unwrap().is_ok());
    }
);

db_test!(
    async fn a_password_reset_ends_sessions_and_refresh_tokens(db: Db) {
        let id = admin(&db).await;
        let store = SqlSessionStore::new(db.clone());
        let mut rec = Record {
            id: Default::default(),
            data: [(session_store::USER_KEY.to_string(), serde_json::json!(id))]
                .into_iter()
                .collect(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut rec).await.unwrap();
        let rt = refresh::issue(&db, &id).await.unwrap();
        users::ensure_admin(&db, "ops@example.com", pw("a brand new password"))
            .await
            .unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
        assert_eq!(
            refresh::rotate(&db, &rt).await.unwrap(),
            Err(RefreshError::Invalid)
        );
    }
);

db_test!(
    async fn sessions_save_load_expire_and_end(db: Db) {
        let id = admin(&db).await;
        let store = SqlSessionStore::new(db.clone());
        let mut rec = Record {
            id: Default::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut rec).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap().unwrap().data.len(), 0);
        rec.data
            .insert(session_store::USER_KEY.into(), serde_json::json!(id));
        store.save(&rec).await.unwrap();
        let loaded = store.load(&rec.id).await.unwrap().unwrap();
        assert_eq!(loaded.data, rec.data);
        // Stored to the millisecond.
        assert!((loaded.expiry_date - rec.expiry_date).abs() < time::Duration::milliseconds(1));
        // The table holds no usable id.
        let keys: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(!keys.contains(&rec.id.to_string()));
        assert_eq!(session_store::end_all_for_user(&db, &id).await.unwrap(), 1);
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
        // Expired sessions do not load.
        let mut old = Record {
            id: Default::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        };
        store.create(&mut old).await.unwrap();
        assert_eq!(store.load(&old.id).await.unwrap(), None);
        assert_eq!(session_store::delete_expired(&db).await.unwrap(), 1);
        store.delete(&rec.id).await.unwrap();
    }
);

db_test!(
    async fn the_audit_chain_detects_edits_and_deletions(db: Db) {
        for i in 0..5 {
            audit::record(
                &db,
                NewEvent::new("user.login")
                    .tenant("t")
                    .actor(Some(format!("u{i}")))
                    .ip(Some("127.0.0.1".into())),
            )
            .await
            .unwrap();
        }
        assert_eq!(
            audit::verify(&db).await.unwrap(),
            Verdict::Intact { events: 5 }
        );
        assert_eq!(audit::by_action(&db, "user.login").await.unwrap().len(), 5);
        sqlx::query("UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 3")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(matches!(
            audit::verify(&db).await.unwrap(),
            Verdict::Broken { seq: 3, .. }
        ));
        sqlx::query("UPDATE audit_events SET actor_id = 'u2' WHERE seq = 3")
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(
            audit::verify(&db).await.unwrap(),
            Verdict::Intact { events: 5 }
        );
        sqlx::query("DELETE FROM audit_events WHERE seq = 2")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(matches!(
            audit::verify(&db).await.unwrap(),
            Verdict::Broken { seq: 2, .. }
        ));
    }
);

db_test!(
    async fn concurrent_audit_appends_never_fork_the_chain(db: Db) {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                audit::record(
                    &db,
                    NewEvent::new("test.concurrent").meta(serde_json::json!({ "i": i })),
                )
                .await
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            audit::verify(&db).await.unwrap(),
            Verdict::Intact { events: 16 }
        );
    }
);

db_test!(
    async fn a_session_is_written_when_it_changes_or_its_deadline_moves_a_minute(db: Db) {
        let id = admin(&db).await;
        let store = SqlSessionStore::new(db.clone());
        let start = time::OffsetDateTime::now_utc() + time::Duration::hours(12);
        let mut rec = Record {
            id: Default::default(),
            data: [(session_store::USER_KEY.to_string(), serde_json::json!(id))]
                .into_iter()
                .collect(),
            expiry_date: start,
        };
        store.create(&mut rec).await.unwrap();
        let stored = || async {
            sqlx::query_as::<_, (String, String)>("SELECT data, expires_at FROM sessions")
                .fetch_one(db.pool())
                .await
                .unwrap()
        };
        let first = stored().await;
        // A request a few seconds later: its deadline moves a little, nothing is written.
        let mut next = store.load(&rec.id).await.unwrap().unwrap();
        next.expiry_date = start + time::Duration::seconds(10);
        store.save(&next).await.unwrap();
        assert_eq!(
            stored().await,
            first,
            "no write for a deadline moved by 10 s"
        );
        // Two minutes on, the deadline is written.
        next.expiry_date = start + time::Duration::minutes(2);
        store.save(&next).await.unwrap();
        let moved = stored().await;
        assert_ne!(
            moved.1, first.1,
            "the deadline moved by two minutes is written"
        );
        // Changed data is written at once.
        next.data.insert("theme".into(), serde_json::json!("dark"));
        store.save(&next).await.unwrap();
        assert!(stored().await.0.contains("dark"));
        // Another process (a store that never read the row) writes what it saves.
        let other = SqlSessionStore::new(db.clone());
        next.expiry_date += time::Duration::seconds(5);
        other.save(&next).await.unwrap();
        let loaded = store.load(&rec.id).await.unwrap().unwrap();
        assert!((loaded.expiry_date - next.expiry_date).abs() < time::Duration::milliseconds(1));
        // A session ended elsewhere is not brought back by a save that changes nothing.
        session_store::end_all_for_user(&db, &id).await.unwrap();
        next.expiry_date += time::Duration::seconds(1);
        store.save(&next).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
    }
);
