//! The `mooring` binary as a user runs it.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn mooring(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mooring"));
    c.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("MOORING_CONFIG")
        .env_remove("MOORING_SITE_DIR")
        .env("MOORING_DATA_DIR", dir.join("data"))
        .env("MOORING_LOG", "warn");
    c
}

#[test]
fn openapi_prints_each_contract() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["mpanel", "wp", "tenant", "rustploy"] {
        let out = mooring(dir.path())
            .args(["openapi", name])
            .output()
            .unwrap();
        assert!(out.status.success());
        let want = std::fs::read_to_string(format!(
            "{}/../contracts/{name}.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{name}");
    }
    let out = mooring(dir.path())
        .args(["openapi", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn migrate_creates_the_sqlite_database_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = mooring(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("database (sqlite) is at migration"),
        "{stdout}"
    );
    assert!(dir.path().join("data/mooring.db").is_file());
    // Again: nothing to do, same answer.
    let out = mooring(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn admin_create_creates_then_resets_and_rejects_weak_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let run = |stdin: &str| {
        let mut child = mooring(dir.path())
            .args([
                "admin",
                "create",
                "--email",
                "Ops@Example.com",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("a long enough password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "created platform admin ops@example.com\n"
    );
    let out = run("another long password\n");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "reset the password of platform admin ops@example.com\n"
    );
    let out = run("short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("at least 12 characters"));

    // Without --password-stdin a password is generated and shown once.
    let out = mooring(dir.path())
        .args(["admin", "create", "--email", "second@example.com"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let pw = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("generated password printed");
    assert_eq!(pw.len(), 20);
}

#[test]
fn bad_configuration_is_reported_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = mooring(dir.path())
        .env("MOORING_BIND", "not-an-address")
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("configuration") && err.to_lowercase().contains("bind"),
        "{err}"
    );
}

#[test]
fn serve_prints_how_to_sign_in_serves_assets_from_anywhere_and_stops_on_sigterm() {
    let site = mooring_server::assets::find_site_dir(None)
        .expect("the WASM bundle is not built: run `./x build` (or `./x test`, which builds it)");
    let dir = tempfile::tempdir().unwrap();
    let mut child = mooring(dir.path())
        .env("MOORING_BIND", "127.0.0.1:0")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let url = loop {
        let line = lines.next().expect("serve printed its URL").unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("Mooring is running at ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let all = seen.join("\n");
    assert!(
        all.contains("Created the first admin: admin@localhost"),
        "{all}"
    );
    assert!(all.contains("password (shown once"), "{all}");
    assert!(dir.path().join("data/master.key").is_file());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = c.get(format!("{url}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // Started from a temp dir, it still finds the built site.
        let r = c
            .get(format!("{url}/pkg/mooring.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "site at {}", site.display());
        let r = c
            .get(format!("{url}/pkg/mooring-frontend_bg.wasm"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful stop exits 0, got {status}");

    // A second start on the same data dir does not create another admin.
    let out = mooring(dir.path())
        .args(["admin", "create", "--email", "admin@localhost"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("reset the password"));
}

#[test]
fn apikeys_are_created_listed_used_and_revoked_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = mooring(dir.path())
        .args(["apikey", "create", "--name", "deploy bot"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = stdout
        .lines()
        .next()
        .unwrap()
        .strip_prefix("created API key ")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret (shown once; send it as X-API-Key): "))
        .unwrap();
    assert!(secret.starts_with("mk_"));
    let out = mooring(dir.path())
        .args(["apikey", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.contains(&id) && listed.contains("deploy bot") && listed.contains("last used never")
    );
    assert!(!listed.contains(secret));
    let out = mooring(dir.path())
        .args(["apikey", "revoke", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = mooring(dir.path())
        .args(["apikey", "revoke", &id])
        .output()
        .unwrap();
    assert!(!out.status.success(), "revoking twice fails clearly");
    let out = mooring(dir.path())
        .args(["apikey", "list", "--tenant", "nope"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no tenant with id or slug 'nope'"));
}

#[test]
fn the_worker_process_runs_queued_jobs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mooring(dir.path())
        .arg("migrate")
        .status()
        .unwrap()
        .success());
    let url = format!("sqlite://{}", dir.path().join("data/mooring.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db, id) = rt.block_on(async {
        let db = mooring_core::Db::connect(&url, Default::default())
            .await
            .unwrap();
        let id = mooring_core::jobs::enqueue_now(
            &db,
            mooring_core::jobs::NewJob::new(
                mooring_core::DEFAULT_TENANT_ID,
                "wordpress.provision",
                serde_json::json!({}),
            ),
        )
        .await
        .unwrap();
        (db, id)
    });
    let mut child = mooring(dir.path())
        .arg("worker")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let job = loop {
        let job = rt.block_on(mooring_core::jobs::load(&db, &id)).unwrap();
        if job.status != "queued" && job.status != "running" {
            break job;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the worker did not run the job");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // No provisioner for this type in this build: a clear, retryable failure.
    assert_eq!(
        (job.status.as_str(), job.error_code.as_deref()),
        ("failed", Some("handler_unavailable"))
    );
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn audit_verify_finds_an_edited_event() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let out = mooring(dir.path())
            .args(["apikey", "create", "--name", name])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = mooring(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "audit trail intact: 2 events\n"
    );
    let url = format!("sqlite://{}", dir.path().join("data/mooring.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let db = mooring_core::Db::connect(&url, Default::default())
            .await
            .unwrap();
        sqlx::query("UPDATE audit_events SET action = 'api_key.revoked' WHERE seq = 1")
            .execute(db.pool())
            .await
            .unwrap();
        db.close().await;
    });
    let out = mooring(dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("audit trail broken at event 1: its contents were changed"),
        "{err}"
    );
}

#[test]
fn dunning_steps_out_of_order_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = mooring(dir.path())
        .env("MOORING_BIND", "127.0.0.1:0")
        .env("MOORING_SUSPEND_AFTER_DAYS", "40")
        .env("MOORING_TERMINATE_AFTER_DAYS", "30")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("suspend_after_days (40) must be less than terminate_after_days (30)"),
        "{err}"
    );
}
