//! The identity cache (accounts, tokens, keys and sessions kept in memory)
//! never serves what was changed: a change through Mooring is refused on the
//! very next use, and on PostgreSQL a change by another process (or psql) is
//! announced and dropped at once. Uses of tokens and keys are written in
//! batches, and still shown by every listing.

use std::time::{Duration, Instant};

use mooring_core::{
    db_test,
    identity::{
        access_tokens::{self, NewToken},
        api_keys, cached_user,
        session_store::{self, SqlSessionStore},
        Principal, Scope, Via,
    },
    users::{self, NewUser, UserChange},
    Backend, Db,
};
use secrecy::SecretString;
use tower_sessions_core::{session::Record, SessionStore};

async fn admin(db: &Db) -> Principal {
    let id = mooring_core::testkit::ops_admin(db).await;
    let u = mooring_core::identity::user_by_id(db, &id)
        .await
        .unwrap()
        .unwrap();
    Principal::for_user(&u, Via::Session, Scope::Admin)
}

/// Wait until the cache is in use (on PostgreSQL: its listener is connected).
async fn live(db: &Db) {
    let start = Instant::now();
    while !db.auth().is_live() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the identity cache never went live"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn token(scope: &str) -> NewToken {
    NewToken::parse("ci", "personal", &[scope], None).unwrap()
}

db_test!(
    async fn revoking_or_disabling_is_refused_on_the_very_next_use(db: Db) {
        let admin = admin(&db).await;
        live(&db).await;

        // A token, used twice (the second time from memory), then revoked.
        let (tok, secret) = access_tokens::create(&db, &admin, token("read"), None)
            .await
            .unwrap();
        for _ in 0..2 {
            let p = access_tokens::authenticate(&db, &secret).await.unwrap();
            assert_eq!(p.unwrap().scope, Scope::Read);
        }
        access_tokens::revoke(&db, &admin, &tok.id, None)
            .await
            .unwrap();
        assert!(access_tokens::authenticate(&db, &secret)
            .await
            .unwrap()
            .is_none());

        // An API key, likewise.
        let (key, key_secret) = api_keys::create_for(&db, &admin, "ci", None).await.unwrap();
        for _ in 0..2 {
            assert!(api_keys::authenticate(&db, &key_secret)
                .await
                .unwrap()
                .is_some());
        }
        api_keys::revoke_for(&db, &admin, &key.id, None)
            .await
            .unwrap();
        assert!(api_keys::authenticate(&db, &key_secret)
            .await
            .unwrap()
            .is_none());

        // A staff account's token stops working the moment it is disabled,
        // and its account reads as disabled.
        let staff = users::create(
            &db,
            &admin,
            NewUser {
                name: "Staff".into(),
                email: "staff@example.com".into(),
                role: mooring_core::identity::Role::Staff,
                status: None,
                password: SecretString::from("another long password"),
            },
            None,
        )
        .await
        .unwrap();
        let u = cached_user(&db, &staff.id).await.unwrap().unwrap();
        assert!(u.active);
        assert!(
            u.password_hash.is_empty(),
            "the cache keeps no password hash"
        );
        let as_staff = Principal::for_user(&u, Via::Session, Scope::Admin);
        let (_, staff_secret) = access_tokens::create(&db, &as_staff, token("read"), None)
            .await
            .unwrap();
        assert!(access_tokens::authenticate(&db, &staff_secret)
            .await
            .unwrap()
            .is_some());
        users::update(
            &db,
            &admin,
            &staff.id,
            UserChange {
                name: None,
                email: None,
                role: None,
                status: Some("disabled".into()),
                password: None,
            },
            None,
        )
        .await
        .unwrap();
        assert!(!cached_user(&db, &staff.id).await.unwrap().unwrap().active);
        assert!(access_tokens::authenticate(&db, &staff_secret)
            .await
            .unwrap()
            .is_none());
    }
);

db_test!(
    async fn a_message_left_for_a_session_is_shown_once(db: Db) {
        let id = tower_sessions_core::session::Id::default();
        // Noted as having none, then one is left: it is shown, once.
        assert_eq!(session_store::take_flash(&db, &id).await.unwrap(), None);
        assert_eq!(session_store::take_flash(&db, &id).await.unwrap(), None);
        session_store::put_flash(&db, &id, "hello").await.unwrap();
        assert_eq!(
            session_store::take_flash(&db, &id)
                .await
                .unwrap()
                .as_deref(),
            Some("hello")
        );
        assert_eq!(session_store::take_flash(&db, &id).await.unwrap(), None);
    }
);

db_test!(
    async fn uses_are_written_in_batches_and_shown_by_listings(db: Db) {
        let admin = admin(&db).await;
        let (tok, secret) = access_tokens::create(&db, &admin, token("read"), None)
            .await
            .unwrap();
        let (key, key_secret) = api_keys::create_for(&db, &admin, "ci", None).await.unwrap();
        for _ in 0..20 {
            assert!(access_tokens::authenticate(&db, &secret)
                .await
                .unwrap()
                .is_some());
            assert!(api_keys::authenticate(&db, &key_secret)
                .await
                .unwrap()
                .is_some());
        }
        // Not written per use...
        let stored: Option<String> =
            sqlx::query_scalar("SELECT last_used_at FROM access_tokens WHERE id = $1")
                .bind(&tok.id)
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(stored, None, "a use was written at once");
        // ...but every listing shows it.
        let listed = access_tokens::list(&db, &admin).await.unwrap();
        let t = listed.iter().find(|t| t.id == tok.id).unwrap();
        assert!(t.last_used_at.is_some());
        let keys = api_keys::list_for(&db, &admin).await.unwrap();
        let k = keys.iter().find(|k| k.id == key.id).unwrap();
        assert!(k.last_used_at.is_some());
    }
);

/// Two pools on one PostgreSQL database stand for two Mooring processes: a
/// change made by one (through Mooring, or by hand as psql would) is dropped
/// by the other as soon as PostgreSQL announces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_changes_are_announced_on_postgres() {
    let t = mooring_core::testkit::postgres().await;
    let a = t.db.clone();
    let b = Db::connect(&t.url, Default::default()).await.unwrap();
    assert_eq!(b.backend(), Backend::Postgres);
    let admin = admin(&b).await;
    live(&a).await;

    let (tok, secret) = access_tokens::create(&b, &admin, token("read"), None)
        .await
        .unwrap();
    assert!(access_tokens::authenticate(&a, &secret)
        .await
        .unwrap()
        .is_some());
    // Revoked in process B: process A refuses it once told.
    access_tokens::revoke(&b, &admin, &tok.id, None)
        .await
        .unwrap();
    let refused = within(Duration::from_secs(3), || async {
        access_tokens::authenticate(&a, &secret)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert!(refused, "process A still accepted a token revoked by B");

    // Disabled by hand (psql): process A sees it too.
    let u = cached_user(&a, &admin.user_id).await.unwrap().unwrap();
    assert!(u.active);
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(&admin.user_id)
        .execute(b.pool())
        .await
        .unwrap();
    let disabled = within(Duration::from_secs(3), || async {
        !cached_user(&a, &admin.user_id)
            .await
            .unwrap()
            .unwrap()
            .active
    })
    .await;
    assert!(disabled, "process A still saw a disabled account as active");

    // A session signed out in process B no longer loads in process A, and a
    // one-time message B leaves for it is shown by A.
    let store_a = SqlSessionStore::new(a.clone());
    let store_b = SqlSessionStore::new(b.clone());
    let mut rec = Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    rec.data.insert(
        session_store::USER_KEY.into(),
        serde_json::json!(admin.user_id),
    );
    store_a.create(&mut rec).await.unwrap();
    assert!(store_a.load(&rec.id).await.unwrap().is_some());
    assert_eq!(session_store::take_flash(&a, &rec.id).await.unwrap(), None);
    session_store::put_flash(&b, &rec.id, "{\"ok\":true}")
        .await
        .unwrap();
    let shown = within(Duration::from_secs(3), || async {
        session_store::take_flash(&a, &rec.id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(shown, "process A missed a message left by B");
    store_b.delete(&rec.id).await.unwrap();
    let ended = within(Duration::from_secs(3), || async {
        store_a.load(&rec.id).await.unwrap().is_none()
    })
    .await;
    assert!(ended, "process A still loaded a session ended by B");

    // Last uses do not announce anything (they would empty every cache).
    let mut l = sqlx::postgres::PgListener::connect(&t.url).await.unwrap();
    l.listen(mooring_core::identity::cache::CHANNEL)
        .await
        .unwrap();
    sqlx::query("UPDATE access_tokens SET last_used_at = '2030-01-01T00:00:00.000Z'")
        .execute(b.pool())
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(500), l.recv()).await;
    assert!(quiet.is_err(), "a last-use write was announced");
    b.close().await;
}

/// Poll `check` until it holds or `limit` passes.
async fn within<F, Fut>(limit: Duration, check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
