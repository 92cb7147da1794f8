//! The SSH connection pool against real OpenSSH `sshd`s on loopback (both
//! backends): more nodes than connection slots are all served, one after
//! another and at once; an idle connection is closed to free a slot; a
//! node that accepts TCP but never speaks SSH holds up no other node, and
//! its waiting callers share one connect timeout; a server that changes
//! (address, port, user, accepted host key) or is deleted loses its pooled
//! connection in core, so the next command reaches the server as it is now.

use std::time::{Duration, Instant};

use mooring_core::{
    identity::Principal,
    nodes::{
        keys::Vault,
        servers::{self, Nodes, Server, ServerInput},
        ssh::{Cmd, NodeError, Pool, PoolOptions},
    },
    testkit::{self, sshd::Sshd},
    DEFAULT_TENANT_ID,
};

fn admin() -> Principal {
    mooring_core::testkit::operator()
}

const T: Duration = Duration::from_secs(20);

fn nodes_with(t: &testkit::TestDb, options: PoolOptions) -> Nodes {
    Nodes {
        db: t.db.clone(),
        vault: Vault::new([7; 32]),
        pool: Pool::new(options),
    }
}

async fn add(nodes: &Nodes, name: &str, host: &str, port: u16, user: &str) -> Server {
    servers::create(
        nodes,
        &admin(),
        ServerInput {
            name: Some(name.into()),
            host: Some(host.into()),
            port: Some(i64::from(port)),
            ssh_user: Some(user.into()),
            roles: Some(vec!["web".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// `echo word` on `s` (after `sleep` seconds), its output.
async fn echo(nodes: &Nodes, s: &Server, word: &str, sleep: &str) -> Result<String, NodeError> {
    let line = format!("sleep {sleep}; echo {word}");
    nodes
        .check(
            s,
            &Cmd::new("sh").arg("-c").arg(line),
            None,
            T,
            &mut |_, _| {},
        )
        .await
        .map(|o| o.stdout)
}

/// A port on `host` nothing listens on.
fn closed_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn more_nodes_than_slots(t: testkit::TestDb) {
    let nodes = nodes_with(
        &t,
        PoolOptions {
            max_connections: 2,
            slot_timeout: Duration::from_secs(30),
            ..PoolOptions::default()
        },
    );
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let mut sshds = Vec::new();
    let mut list = Vec::new();
    for (i, host) in ["127.0.0.4", "127.0.0.5", "127.0.0.6"].iter().enumerate() {
        let node = Sshd::start(host, &key.public_openssh).await;
        list.push(add(&nodes, &format!("node-{i}"), host, node.port, &node.user).await);
        sshds.push(node);
    }

    // One after another, round and round: each new connection closes an
    // idle one to take its slot (the old pool waited for a slot forever).
    let rounds = async {
        for i in [0, 1, 2, 0, 1, 2, 2, 1, 0, 1] {
            let out = echo(&nodes, &list[i], &format!("n{i}"), "0").await;
            assert_eq!(out.unwrap(), format!("n{i}\n"));
            assert!(nodes.pool.open().await <= 2);
            assert!(nodes.pool.slots_taken() <= 2);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), rounds)
        .await
        .expect("every node is served in turn with 2 slots for 3 nodes");
    assert_eq!(nodes.pool.open().await, 2);
    assert_eq!(nodes.pool.slots_taken(), 2);

    // All at once: commands on the third node wait for a command to end,
    // then close that idle connection.
    let mut runs = Vec::new();
    for round in 0..4 {
        for (i, s) in list.iter().enumerate() {
            let (nodes, s) = (nodes.clone(), s.clone());
            runs.push(tokio::spawn(async move {
                echo(&nodes, &s, &format!("{i}-{round}"), "0.3").await
            }));
        }
    }
    let all = async {
        let mut n = 0;
        for (k, r) in runs.into_iter().enumerate() {
            let (round, i) = (k / 3, k % 3);
            assert_eq!(r.await.unwrap().unwrap(), format!("{i}-{round}\n"));
            n += 1;
        }
        n
    };
    let n = tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("concurrent commands to 3 nodes over 2 slots all finish");
    assert_eq!(n, 12);
    assert!(nodes.pool.slots_taken() <= 2);

    // Dropping the servers' connections frees their slots at once.
    for s in &list {
        nodes.changed(&s.id);
    }
    assert_eq!(nodes.pool.open().await, 0);
    assert_eq!(nodes.pool.slots_taken(), 0);

    // A node that dropped its connection: it is seen closed and replaced.
    assert_eq!(
        echo(&nodes, &list[0], "before", "0").await.unwrap(),
        "before\n"
    );
    sshds[0].down();
    sshds[0].up().await;
    assert_eq!(
        echo(&nodes, &list[0], "after", "0").await.unwrap(),
        "after\n"
    );
    for (i, s) in list.iter().enumerate() {
        assert_eq!(echo(&nodes, s, "x", "0").await.unwrap(), "x\n", "node {i}");
    }
    assert!(nodes.pool.slots_taken() <= 2);
}

mooring_core::on_both_backends!(more_nodes_than_slots);

/// A port that accepts TCP and then says nothing; each accepted connection
/// is reported on the channel.
async fn black_hole() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

async fn unreachable_does_not_delay(t: testkit::TestDb) {
    // A connect timeout far longer than the healthy node's commands take.
    let nodes = nodes_with(
        &t,
        PoolOptions {
            max_connections: 2,
            connect_timeout: Duration::from_secs(30),
            ..PoolOptions::default()
        },
    );
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let sshd = Sshd::start("127.0.0.7", &key.public_openssh).await;
    let healthy = add(&nodes, "healthy", "127.0.0.7", sshd.port, &sshd.user).await;
    let (port, mut accepted) = black_hole().await;
    let hole = add(&nodes, "hole", "127.0.0.1", port, &sshd.user).await;

    // Three commands to the black hole: one connects (and waits for a
    // banner that never comes), two wait for it.
    let mut stuck = Vec::new();
    for _ in 0..3 {
        let (nodes, hole) = (nodes.clone(), hole.clone());
        stuck.push(tokio::spawn(async move {
            echo(&nodes, &hole, "never", "0").await
        }));
    }
    accepted
        .recv()
        .await
        .expect("the pool connects to the black hole");

    // Meanwhile the healthy node answers, one command after another and
    // several at once: all before any black-hole command ends.
    let served = async {
        for i in 0..3 {
            let out = echo(&nodes, &healthy, &format!("s{i}"), "0").await;
            assert_eq!(out.unwrap(), format!("s{i}\n"));
        }
        let mut runs = Vec::new();
        for i in 0..6 {
            let (nodes, healthy) = (nodes.clone(), healthy.clone());
            runs.push(tokio::spawn(async move {
                echo(&nodes, &healthy, &format!("c{i}"), "0.1").await
            }));
        }
        for (i, r) in runs.into_iter().enumerate() {
            assert_eq!(r.await.unwrap().unwrap(), format!("c{i}\n"));
        }
    };
    let first_hole = futures_util::future::select_all(stuck.iter_mut());
    tokio::select! {
        biased;
        () = served => {}
        (r, _, _) = first_hole => panic!("a black-hole command ended first: {r:?}"),
    }
    assert!(
        stuck.iter().all(|h| !h.is_finished()),
        "the black hole is still connecting"
    );
    // Callers waiting on the black hole hold no slot: its connect holds
    // one, the healthy node's connection the other.
    assert_eq!(nodes.pool.slots_taken(), 2);
    assert_eq!(nodes.pool.open().await, 1);
    for h in &stuck {
        h.abort();
    }

    // With a short connect timeout: callers that waited for a failed
    // connect get its answer, so four callers cost one timeout, not four.
    let limit = Duration::from_secs(2);
    let quick = nodes_with(
        &t,
        PoolOptions {
            max_connections: 2,
            connect_timeout: limit,
            ..PoolOptions::default()
        },
    );
    let started = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..4 {
        let (nodes, hole) = (quick.clone(), hole.clone());
        calls.push(tokio::spawn(async move {
            echo(&nodes, &hole, "never", "0").await
        }));
    }
    for c in calls {
        let e = c.await.unwrap().unwrap_err();
        assert_eq!(e.code(), "node_unreachable", "{e}");
    }
    let took = started.elapsed();
    assert!(took >= limit, "{took:?}");
    assert!(
        took < limit * 2,
        "waiting callers each waited again: {took:?}"
    );
    // A failed connect leaves no slot taken.
    assert_eq!(quick.pool.slots_taken(), 0);
    // A later caller tries again (no failure is remembered beyond it).
    let again = Instant::now();
    let e = echo(&quick, &hole, "never", "0").await.unwrap_err();
    assert_eq!(e.code(), "node_unreachable");
    assert!(again.elapsed() >= limit);
    assert_eq!(echo(&quick, &healthy, "fine", "0").await.unwrap(), "fine\n");
}

mooring_core::on_both_backends!(unreachable_does_not_delay);

async fn changes_drop_the_connection(t: testkit::TestDb) {
    let nodes = nodes_with(
        &t,
        PoolOptions {
            connect_timeout: Duration::from_secs(5),
            ..PoolOptions::default()
        },
    );
    let db = t.db.clone();
    let key = nodes.key(DEFAULT_TENANT_ID).await.unwrap();
    let sshd = Sshd::start("127.0.0.8", &key.public_openssh).await;
    let s = add(&nodes, "web", "127.0.0.8", sshd.port, &sshd.user).await;
    assert_eq!(echo(&nodes, &s, "one", "0").await.unwrap(), "one\n");
    assert_eq!(nodes.pool.open().await, 1);

    let boss = admin();
    let update = |input: ServerInput| servers::update(&nodes, &boss, &s.id, input);

    // A wrong port: the update itself drops the connection; the next
    // command goes to the new port and fails.
    let wrong = closed_port("127.0.0.8");
    update(ServerInput {
        port: Some(i64::from(wrong)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(nodes.pool.open().await, 0, "the update dropped it");
    assert_eq!(nodes.pool.slots_taken(), 0);
    let e = echo(&nodes, &s, "two", "0").await.unwrap_err();
    assert_eq!(e.code(), "node_unreachable", "{e}");
    // Restored: it works again (and the host key is pinned anew).
    update(ServerInput {
        port: Some(i64::from(sshd.port)),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(echo(&nodes, &s, "three", "0").await.unwrap(), "three\n");
    let now = servers::get(&db, &admin(), &s.id).await.unwrap();
    assert_eq!(now.host_key_fingerprint, Some(sshd.fingerprint()));

    // A wrong address, then a wrong user: the same.
    update(ServerInput {
        host: Some("127.0.0.9".into()),
        ip: Some("127.0.0.9".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(nodes.pool.open().await, 0);
    let e = echo(&nodes, &s, "four", "0").await.unwrap_err();
    assert_eq!(e.code(), "node_unreachable", "{e}");
    update(ServerInput {
        host: Some("127.0.0.8".into()),
        ip: Some("127.0.0.8".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(echo(&nodes, &s, "five", "0").await.unwrap(), "five\n");
    assert_eq!(nodes.pool.open().await, 1);
    update(ServerInput {
        ssh_user: Some("mooring-nobody".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(nodes.pool.open().await, 0);
    let e = echo(&nodes, &s, "six", "0").await.unwrap_err();
    assert_eq!(e.code(), "ssh_auth_failed", "{e}");
    update(ServerInput {
        ssh_user: Some(sshd.user.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(echo(&nodes, &s, "seven", "0").await.unwrap(), "seven\n");
    assert_eq!(nodes.pool.open().await, 1);

    // Accepting a host key drops the connection made under the old one.
    sqlx::query(
        "UPDATE servers SET presented_host_key = host_key, \
         presented_host_key_fingerprint = host_key_fingerprint WHERE id = $1",
    )
    .bind(&s.id)
    .execute(db.pool())
    .await
    .unwrap();
    servers::accept_host_key(&nodes, &admin(), &s.id, &sshd.fingerprint())
        .await
        .unwrap();
    assert_eq!(nodes.pool.open().await, 0, "accepting dropped it");
    assert_eq!(echo(&nodes, &s, "eight", "0").await.unwrap(), "eight\n");
    assert_eq!(nodes.pool.slots_taken(), 1);

    // Deleting the server closes its connection and frees the slot.
    servers::delete(&nodes, &admin(), &s.id).await.unwrap();
    assert_eq!(nodes.pool.open().await, 0, "deleting dropped it");
    assert_eq!(nodes.pool.slots_taken(), 0);
}

mooring_core::on_both_backends!(changes_drop_the_connection);
