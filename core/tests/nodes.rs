//! Nodes over SSH against a real OpenSSH `sshd` on loopback (both
//! backends): commands run and stream, hostile arguments stay arguments, a
//! file goes over stdin, the host key is pinned on first contact and a
//! changed one refused until accepted, an unreachable port is
//! `node_unreachable`, and a node dropping mid-command makes the job retry
//! and finish.

use std::time::Duration;

use async_trait::async_trait;
use mooring_core::{
    identity::{Principal, Role},
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
    nodes::{
        heartbeat,
        keys::Vault,
        servers::{self, Nodes, ServerInput},
        ssh::{self, Cmd, NodeError, Stream},
    },
    paging::PageQuery,
    testkit::{self, sshd::Sshd},
    DEFAULT_TENANT_ID,
};

fn admin() -> Principal {
    mooring_core::testkit::operator()
}

fn staff() -> Principal {
    Principal {
        role: Role::Staff,
        ..admin()
    }
}

const T: Duration = Duration::from_secs(20);

async fn node_flow(t: testkit::TestDb) {
    let db = t.db.clone();
    let nodes = Nodes::new(db.clone(), Vault::new([9; 32]));
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    assert!(key.public_openssh.starts_with("ssh-ed25519 "));
    let again = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    assert_eq!(
        again.fingerprint, key.fingerprint,
        "one key per tenant, kept"
    );
    let stored: String = sqlx::query_scalar("SELECT private_key FROM node_keys")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        !stored.contains("PRIVATE KEY"),
        "the private key is sealed at rest"
    );

    let mut node = Sshd::start("127.0.0.2", &key.public_openssh).await;
    // Validation: bad input is refused per field; staff may not add.
    let bad = servers::create(
        &nodes,
        &admin(),
        ServerInput {
            name: Some("web-1".into()),
            host: Some("127.0.0.2; rm -rf /".into()),
            roles: Some(vec!["web".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().starts_with("host:"), "{bad}");
    let bad = servers::create(
        &nodes,
        &admin(),
        ServerInput {
            name: Some("web-1".into()),
            host: Some("127.0.0.2".into()),
            roles: Some(vec!["mainframe".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().starts_with("roles:"), "{bad}");
    assert!(servers::create(
        &nodes,
        &staff(),
        ServerInput {
            name: Some("web-1".into()),
            ..Default::default()
        }
    )
    .await
    .is_err());
    let server = servers::create(
        &nodes,
        &admin(),
        ServerInput {
            name: Some("web-1".into()),
            host: Some("127.0.0.2".into()),
            port: Some(i64::from(node.port)),
            ssh_user: Some(node.user.clone()),
            roles: Some(vec!["web".into(), "db".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(server.status, "offline");
    assert_eq!(server.ip, "127.0.0.2");
    assert_eq!(server.host_key_fingerprint, None);

    // First contact pins the host key; the probe sets the status.
    let test = servers::test_connection(&nodes, &staff(), &server.id)
        .await
        .unwrap();
    assert!(test.ok, "{}: {}", test.message, node.log());
    assert_eq!(test.host_key_fingerprint, Some(node.fingerprint()));
    assert!(matches!(test.server.status.as_str(), "online" | "degraded"));
    assert!(test.server.last_heartbeat_at.is_some());
    let probes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM server_probes WHERE reachable = 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(probes, 1);
    let server = servers::get(&db, &admin(), &server.id).await.unwrap();

    // Commands run; output streams line by line; the exit status counts.
    let mut lines = Vec::new();
    let out = nodes
        .run(
            &server,
            &Cmd::new("sh")
                .arg("-c")
                .arg("echo one; echo two >&2; echo three; exit 3"),
            None,
            T,
            &mut |s, l| lines.push((s, l.to_string())),
        )
        .await
        .unwrap();
    assert_eq!(out.code, 3);
    assert_eq!(out.stdout, "one\nthree\n");
    assert_eq!(out.stderr_tail, "two");
    assert!(lines.contains(&(Stream::Stdout, "one".into())));
    assert!(lines.contains(&(Stream::Stderr, "two".into())));
    let failed = nodes
        .check(&server, &Cmd::new("false"), None, T, &mut |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(failed.code(), "command_failed");

    // Hostile arguments arrive as the very bytes given, one argument each.
    let hostile = [
        "$(touch /tmp/mooring-pwned)",
        "`id`",
        "it's \"quoted\"",
        "a;b && c || d",
        "line one\nline two",
        "*",
        "",
        "--option",
    ];
    let out = nodes
        .check(
            &server,
            &Cmd::new("printf").arg("<%s>\\n").args(hostile),
            None,
            T,
            &mut |_, _| {},
        )
        .await
        .unwrap();
    let want: String = hostile.iter().map(|a| format!("<{a}>\n")).collect();
    assert_eq!(out.stdout, want);
    assert!(!std::path::Path::new("/tmp/mooring-pwned").exists());

    // A file written from stdin (a secret never on the command line);
    // writing it twice leaves it as once.
    let path = node.dir().join("app.env");
    let path_s = path.display().to_string();
    for _ in 0..2 {
        nodes
            .check(
                &server,
                &ssh::write_file(&path_s, "600"),
                Some(b"DB_PASSWORD=s3cr$t 'x'\n"),
                T,
                &mut |_, _| {},
            )
            .await
            .unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "DB_PASSWORD=s3cr$t 'x'\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !node.log().contains("s3cr"),
        "the secret is not in sshd's log"
    );

    // Ten commands at once share one connection.
    let mut runs = Vec::new();
    for i in 0..12 {
        let (nodes, server) = (nodes.clone(), server.clone());
        runs.push(tokio::spawn(async move {
            nodes
                .check(
                    &server,
                    &Cmd::new("sh").arg("-c").arg(format!("sleep 0.2; echo {i}")),
                    None,
                    T,
                    &mut |_, _| {},
                )
                .await
                .map(|o| o.stdout)
        }));
    }
    for (i, r) in runs.into_iter().enumerate() {
        assert_eq!(r.await.unwrap().unwrap(), format!("{i}\n"));
    }
    assert_eq!(nodes.pool.open().await, 1);

    // The node is reinstalled: a new host key is refused, kept for an
    // admin, and accepted only as shown.
    node.down();
    node.new_host_key();
    node.up().await;
    nodes.pool.forget(&server.id).await;
    let err = nodes
        .run(&server, &Cmd::new("true"), None, T, &mut |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "host_key_mismatch", "{err}");
    let held = servers::get(&db, &admin(), &server.id).await.unwrap();
    assert_eq!(
        held.presented_host_key_fingerprint,
        Some(node.fingerprint())
    );
    assert_ne!(held.host_key_fingerprint, Some(node.fingerprint()));
    let probe = heartbeat::probe(&nodes, &held).await.unwrap_err();
    assert_eq!(probe.code(), "host_key_mismatch");
    assert_eq!(
        servers::get(&db, &admin(), &server.id)
            .await
            .unwrap()
            .status,
        "offline"
    );
    assert!(
        servers::accept_host_key(&nodes, &staff(), &server.id, &node.fingerprint())
            .await
            .is_err()
    );
    assert!(
        servers::accept_host_key(&nodes, &admin(), &server.id, "SHA256:not-shown")
            .await
            .is_err()
    );
    let accepted = servers::accept_host_key(&nodes, &admin(), &server.id, &node.fingerprint())
        .await
        .unwrap();
    assert_eq!(accepted.host_key_fingerprint, Some(node.fingerprint()));
    nodes
        .check(&accepted, &Cmd::new("true"), None, T, &mut |_, _| {})
        .await
        .unwrap();

    // An unreachable port: node_unreachable, and the server goes offline.
    let closed = servers::create(
        &nodes,
        &admin(),
        ServerInput {
            name: Some("gone".into()),
            host: Some("127.0.0.3".into()),
            port: Some(1),
            roles: Some(vec!["backup".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let test = servers::test_connection(&nodes, &admin(), &closed.id)
        .await
        .unwrap();
    assert!(!test.ok);
    assert_eq!(test.code, Some("node_unreachable"));
    assert_eq!(test.server.status, "offline");
    let (list, total) = servers::list(&db, &staff(), PageQuery::default().check().unwrap())
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].name, "gone");

    // A node dropping mid-command: the job fails as transient, retries,
    // and finishes once the node is back.
    let marker = node.dir().join("done");
    let registry = Registry::new().register(
        "test.node_work",
        NodeWork {
            nodes: nodes.clone(),
            marker: marker.display().to_string(),
        },
    );
    let worker = Worker::new(db.clone(), registry);
    let mut tx = db.begin_write().await.unwrap();
    let job = jobs::enqueue(
        &db,
        &mut tx,
        NewJob::new(
            DEFAULT_TENANT_ID,
            "test.node_work",
            serde_json::json!({ "server": server.id }),
        ),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let running = tokio::spawn(async move { worker.run_one().await.map(|_| worker) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    node.down();
    let worker = running.await.unwrap().unwrap();
    let j = jobs::get(&db, &admin(), &job).await.unwrap();
    assert_eq!(
        (j.status.as_str(), j.error_code.as_deref()),
        ("queued", Some("node_unreachable")),
        "{j:?}"
    );
    node.up().await;
    // Its backoff has passed.
    sqlx::query("UPDATE jobs SET run_after = $1 WHERE id = $2")
        .bind(mooring_core::clock::now())
        .bind(&job)
        .execute(db.pool())
        .await
        .unwrap();
    assert!(worker.run_one().await.unwrap());
    let j = jobs::get(&db, &admin(), &job).await.unwrap();
    assert_eq!(j.status, "succeeded", "{j:?}");
    assert_eq!(j.attempt, 2);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "done\n");
    let _ = std::fs::remove_file("/tmp/mooring-pwned");
}

mooring_core::on_both_backends!(node_flow);

/// Slow, idempotent node work: waits, then writes a marker.
struct NodeWork {
    nodes: Nodes,
    marker: String,
}

#[async_trait]
impl JobHandler for NodeWork {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let p: serde_json::Value = ctx.payload()?;
        let server = servers::load(ctx.db(), p["server"].as_str().unwrap_or_default())
            .await?
            .ok_or_else(|| JobError::permanent("not_found", "no such server"))?;
        let cmd = Cmd::new("sleep")
            .arg("2")
            .and(ssh::write_file(&self.marker, "644"));
        let r: Result<_, NodeError> = self
            .nodes
            .check(
                &server,
                &cmd,
                Some(b"done\n"),
                Duration::from_secs(30),
                &mut |_, _| {},
            )
            .await;
        r?;
        Ok(())
    }
}

#[test]
fn an_unreachable_error_is_transient_for_jobs() {
    let e: JobError = NodeError::Unreachable("x".into()).into();
    assert!(matches!(e, JobError::Transient { ref code, .. } if code == "node_unreachable"));
    let e: JobError = NodeError::HostKeyMismatch {
        pinned: "a".into(),
        presented: "b".into(),
    }
    .into();
    assert!(matches!(e, JobError::Permanent { ref code, .. } if code == "host_key_mismatch"));
}
