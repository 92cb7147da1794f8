//! Secrets at rest and in logs (both backends where a database is used):
//! sealed values are bound to their row and purpose, values of the first
//! format are resealed (node keys, Proxmox tokens, shown-once secrets kept
//! in flash messages), and the `Debug` of what holds a secret hides it.

use aes_gcm::{
    aead::{Aead, KeyInit},
    Aes256Gcm, Nonce,
};
use base64::Engine;
use mooring_core::{
    identity::{
        session_store::{open_shown_once, put_flash, seal_shown_once},
        tokens::derive_key,
        Principal, Role, Scope, Via,
    },
    nodes::{
        proxmox::HypervisorInput,
        servers::{self, Nodes, Server, ServerInput},
    },
    testkit,
    vault::{self, reseal_legacy, Binding, Purpose, Resealed, Vault},
    Db, DEFAULT_TENANT_ID,
};
use sha2::{Digest, Sha256};
use tower_sessions_core::session::Id;

const MASTER: [u8; 32] = [9; 32];
const OTHER_TENANT: &str = "00000000-0000-0000-0000-0000000000b2";

fn admin(tenant: &str) -> Principal {
    Principal {
        user_id: "op".into(),
        tenant_id: tenant.into(),
        role: Role::Admin,
        platform_admin: false,
        scope: Scope::Admin,
        via: Via::Session,
    }
}

/// A value sealed as Mooring did before: the one key derived for "node
/// ssh keys", no associated data, plain base64.
fn legacy_seal(master: [u8; 32], plain: &[u8]) -> String {
    let cipher = Aes256Gcm::new(&derive_key(&master, "node ssh keys").into());
    let nonce = [3u8; 12];
    let mut all = nonce.to_vec();
    all.extend(cipher.encrypt(Nonce::from_slice(&nonce), plain).unwrap());
    base64::engine::general_purpose::STANDARD.encode(all)
}

fn proxmox(secret: &str) -> ServerInput {
    ServerInput {
        name: Some(format!("pve-{}", uuid::Uuid::new_v4().simple())),
        host: Some("pve.example.com".into()),
        ip: Some("192.0.2.10".into()),
        roles: Some(vec!["hypervisor".into()]),
        hypervisor: Some(HypervisorInput {
            kind: Some("proxmox".into()),
            api_url: Some("https://pve.example.com:8006".into()),
            token_id: Some("root@pam!mooring".into()),
            token_secret: Some(secret.into()),
            node: Some("pve".into()),
            template_vmid: Some(9000),
            network: Some("10.214.0.0/24".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn stored_token(db: &Db, id: &str) -> String {
    sqlx::query_scalar("SELECT hypervisor_secret FROM servers WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn set_token(db: &Db, id: &str, sealed: &str) {
    sqlx::query("UPDATE servers SET hypervisor_secret = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
}

async fn stored_key(db: &Db, tenant: &str) -> String {
    sqlx::query_scalar("SELECT private_key FROM node_keys WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn set_key(db: &Db, tenant: &str, sealed: &str) {
    sqlx::query("UPDATE node_keys SET private_key = $1 WHERE tenant_id = $2")
        .bind(sealed)
        .bind(tenant)
        .execute(db.pool())
        .await
        .unwrap();
}

async fn load(db: &Db, id: &str) -> Server {
    servers::load(db, id).await.unwrap().unwrap()
}

async fn flash_of(db: &Db, hash: &str) -> Option<String> {
    sqlx::query_scalar("SELECT flash FROM flashes WHERE session_hash = $1")
        .bind(hash)
        .fetch_optional(db.pool())
        .await
        .unwrap()
}

fn hash_of(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

async fn legacy_values_are_resealed_and_bound(t: testkit::TestDb) {
    let db = t.db.clone();
    let vault = Vault::new(MASTER);
    let nodes = Nodes::new(db.clone(), vault.clone());
    let now = mooring_core::clock::now();
    sqlx::query(
        "INSERT INTO tenants (id, name, slug, status, created_at, updated_at) \
         VALUES ($1, 'Other', 'other', 'active', $2, $2)",
    )
    .bind(OTHER_TENANT)
    .bind(&now)
    .execute(db.pool())
    .await
    .unwrap();

    // New values are sealed in the current format, bound to their row.
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let sealed_key = stored_key(&db, DEFAULT_TENANT_ID).await;
    assert!(sealed_key.starts_with(vault::PREFIX), "{sealed_key}");
    let pem = vault
        .open(
            Purpose::NodeKey,
            &Binding::new("node_keys", DEFAULT_TENANT_ID, DEFAULT_TENANT_ID),
            &sealed_key,
        )
        .unwrap();
    let a = servers::create(&nodes, &admin(DEFAULT_TENANT_ID), proxmox("tok-a-1234"))
        .await
        .unwrap();
    let b = servers::create(&nodes, &admin(DEFAULT_TENANT_ID), proxmox("tok-b-5678"))
        .await
        .unwrap();
    let c = servers::create(&nodes, &admin(OTHER_TENANT), proxmox("tok-c-9012"))
        .await
        .unwrap();
    assert!(stored_token(&db, &a.id).await.starts_with(vault::PREFIX));
    assert!(a.proxmox(&vault).unwrap().is_some());

    // Values of the first format, as an older Mooring left them.
    set_key(&db, DEFAULT_TENANT_ID, &legacy_seal(MASTER, &pem)).await;
    set_token(&db, &a.id, &legacy_seal(MASTER, b"tok-a-1234")).await;
    let foreign = legacy_seal([1; 32], b"sealed under another master key");
    set_token(&db, &b.id, &foreign).await;
    assert!(
        nodes.key(DEFAULT_TENANT_ID).await.is_err(),
        "a legacy value is refused until it is resealed"
    );
    assert!(load(&db, &a.id).await.proxmox(&vault).is_err());
    // A flash message holding a new token in the clear, of a live session,
    // and one whose session is gone.
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role, created_at, updated_at) \
         VALUES ('u-flash', $1, 'flash@example.com', 'F', 'x', 'admin', $2, $2)",
    )
    .bind(OTHER_TENANT)
    .bind(&now)
    .execute(db.pool())
    .await
    .unwrap();
    let (live, gone) = (Id::default(), Id::default());
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, data, created_at, expires_at) \
         VALUES ($1, 'u-flash', '{}', $2, '2999-01-01T00:00:00Z')",
    )
    .bind(hash_of(&live))
    .bind(&now)
    .execute(db.pool())
    .await
    .unwrap();
    let flash = r#"{"kind":"ok","message":"Created the token.","secret":"mpat_plainsecret","field":null,"values":[]}"#;
    put_flash(&db, &live, flash).await.unwrap();
    put_flash(&db, &gone, flash).await.unwrap();

    let done = reseal_legacy(&db, &vault).await.unwrap();
    assert_eq!(
        done,
        Resealed {
            node_keys: 1,
            proxmox_tokens: 1,
            flashes: 1,
            flashes_dropped: 1,
            unopenable: 1,
        }
    );
    // Idempotent: nothing left to do, nothing changed.
    let resealed_token = stored_token(&db, &a.id).await;
    assert_eq!(
        reseal_legacy(&db, &vault).await.unwrap(),
        Resealed {
            unopenable: 1,
            ..Resealed::default()
        }
    );
    assert_eq!(stored_token(&db, &a.id).await, resealed_token);
    assert_eq!(stored_token(&db, &b.id).await, foreign, "left as it was");

    // The resealed values open, under their purpose and row only.
    assert!(resealed_token.starts_with(vault::PREFIX));
    assert_eq!(
        nodes.key(DEFAULT_TENANT_ID).await.unwrap().fingerprint,
        key.fingerprint
    );
    assert!(load(&db, &a.id).await.proxmox(&vault).unwrap().is_some());
    let row_a = Binding::new("servers", &a.id, DEFAULT_TENANT_ID);
    assert_eq!(
        vault
            .open(Purpose::ProxmoxToken, &row_a, &resealed_token)
            .unwrap(),
        b"tok-a-1234"
    );
    for wrong in [Purpose::NodeKey, Purpose::ShownOnce] {
        assert!(
            vault.open(wrong, &row_a, &resealed_token).is_err(),
            "{wrong:?}"
        );
    }
    assert!(Vault::new([1; 32])
        .open(Purpose::ProxmoxToken, &row_a, &resealed_token)
        .is_err());
    // Moved to another row of the tenant, or to another tenant's row: it
    // does not open there.
    set_token(&db, &b.id, &resealed_token).await;
    assert!(load(&db, &b.id).await.proxmox(&vault).is_err());
    set_token(&db, &c.id, &resealed_token).await;
    assert!(load(&db, &c.id).await.proxmox(&vault).is_err());
    let mut moved = load(&db, &c.id).await;
    moved.id = a.id.clone();
    assert!(
        moved.proxmox(&vault).is_err(),
        "same id, another tenant: refused"
    );
    // A node key copied to another tenant does not open either.
    nodes.key(OTHER_TENANT).await.unwrap();
    set_key(&db, OTHER_TENANT, &stored_key(&db, DEFAULT_TENANT_ID).await).await;
    assert!(nodes.key(OTHER_TENANT).await.is_err());

    // The flash's secret is sealed for its session's row and tenant; the
    // orphan is gone.
    let kept = flash_of(&db, &hash_of(&live)).await.unwrap();
    assert!(!kept.contains("mpat_plainsecret"), "{kept}");
    let sealed = serde_json::from_str::<serde_json::Value>(&kept).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        open_shown_once(&vault, &live, OTHER_TENANT, &sealed).unwrap(),
        "mpat_plainsecret"
    );
    assert!(open_shown_once(&vault, &live, DEFAULT_TENANT_ID, &sealed).is_err());
    assert!(open_shown_once(&vault, &gone, OTHER_TENANT, &sealed).is_err());
    assert_eq!(flash_of(&db, &hash_of(&gone)).await, None);
    let fresh = seal_shown_once(&vault, &live, OTHER_TENANT, "mk_other").unwrap();
    assert!(fresh.starts_with(vault::PREFIX) && !fresh.contains("mk_other"));
    assert_eq!(
        open_shown_once(&vault, &live, OTHER_TENANT, &fresh).unwrap(),
        "mk_other"
    );
}

mooring_core::on_both_backends!(legacy_values_are_resealed_and_bound);

#[test]
fn each_purpose_has_its_own_key() {
    let v = Vault::new(MASTER);
    let row = Binding::new("servers", "s1", DEFAULT_TENANT_ID);
    for p in Purpose::ALL {
        let s = v.seal(p, &row, b"x").unwrap();
        for q in Purpose::ALL {
            assert_eq!(v.open(q, &row, &s).is_ok(), p == q, "{p:?} opened as {q:?}");
        }
    }
    // A legacy value never opens as a current one.
    assert!(v
        .open(Purpose::NodeKey, &row, &legacy_seal(MASTER, b"x"))
        .is_err());
}

#[tokio::test]
async fn debug_redacts_secrets() {
    let vault = Vault::new([0x5a; 32]);
    assert_eq!(format!("{vault:?}"), "Vault([REDACTED])");

    let hv = HypervisorInput {
        kind: Some("proxmox".into()),
        token_id: Some("root@pam!mooring".into()),
        token_secret: Some("hunter2-token-secret".into()),
        ..Default::default()
    };
    let server_input = ServerInput {
        name: Some("pve".into()),
        hypervisor: Some(hv.clone()),
        ..Default::default()
    };
    for dbg in [format!("{hv:?}"), format!("{server_input:?}")] {
        assert!(!dbg.contains("hunter2-token-secret"), "{dbg}");
        assert!(dbg.contains("root@pam!mooring"), "{dbg}");
    }

    let row = Binding::new("servers", "s1", DEFAULT_TENANT_ID);
    let sealed = vault.seal(Purpose::ProxmoxToken, &row, b"x").unwrap();
    let server = Server {
        id: "s1".into(),
        tenant_id: DEFAULT_TENANT_ID.into(),
        name: "pve".into(),
        host: "pve.example.com".into(),
        ip: "192.0.2.1".into(),
        port: 22,
        ssh_user: "root".into(),
        roles: vec!["hypervisor".into()],
        status: "offline".into(),
        last_heartbeat_at: None,
        host_key_fingerprint: None,
        presented_host_key_fingerprint: None,
        last_error: None,
        created_at: "2026-01-01T00:00:00Z".into(),
        hypervisor: servers::HypervisorConfig::Lxc,
        hypervisor_secret: Some(sealed.clone()),
    };
    let dbg = format!("{server:?}");
    assert!(
        !dbg.contains(&sealed) && dbg.contains("pve.example.com"),
        "{dbg}"
    );

    let user = mooring_core::identity::User {
        id: "u1".into(),
        tenant_id: DEFAULT_TENANT_ID.into(),
        email: "a@example.com".into(),
        name: "A".into(),
        role: Role::Admin,
        platform_admin: false,
        active: true,
        customer_id: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$hunter2hash".into(),
    };
    let dbg = format!("{user:?}");
    assert!(
        !dbg.contains("hunter2hash") && dbg.contains("a@example.com"),
        "{dbg}"
    );

    let change = mooring_core::users::UserChange {
        password: Some("hunter2-new-password".to_string().into()),
        ..Default::default()
    };
    let dbg = format!("{change:?}");
    assert!(!dbg.contains("hunter2-new-password"), "{dbg}");

    let stripe = mooring_core::billing::stripe::StripeConfig {
        secret_key: "sk_test_hunter2".into(),
        webhook_secret: "whsec_hunter2".into(),
        api_base: "https://api.stripe.com/".into(),
    };
    let dbg = format!("{stripe:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");

    let mailer = mooring_core::mail::Mailer::new(
        Some("smtp://mailuser:hunter2smtp@127.0.0.1:2525"),
        "Mooring <mooring@example.com>",
        std::env::temp_dir(),
    )
    .unwrap();
    let dbg = format!("{mailer:?}");
    assert!(!dbg.contains("hunter2smtp"), "{dbg}");
}

#[tokio::test]
async fn debug_of_a_node_key_and_a_database_hides_them() {
    let t = testkit::sqlite().await;
    let nodes = Nodes::new(t.db.clone(), Vault::new(MASTER));
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let dbg = format!("{key:?} {nodes:?}");
    assert!(
        !dbg.contains("PRIVATE KEY") && dbg.contains(&key.fingerprint),
        "{dbg}"
    );
    let dbg = format!("{:?}", t.db);
    assert!(dbg.contains("Sqlite"), "{dbg}");
}
