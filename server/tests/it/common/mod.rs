//! A real Mooring server on a port-0 listener, for API tests.
#![allow(dead_code)]

use std::{sync::Arc, time::Instant};

use leptos::prelude::LeptosOptions;
use mooring_core::testkit::TestDb;
use mooring_server::{
    assets,
    config::{Config, MasterKey},
    http,
    state::{AppState, Keys, Services},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    nodes: mooring_core::nodes::servers::Nodes,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// A data directory this helper made (removed on stop).
    own_dir: Option<std::path::PathBuf>,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: TestDb, mut config: Config) -> TestServer {
        let mut own_dir = None;
        if config.data_dir == Config::default().data_dir {
            // Never write into the source tree: outbox and keys go to a temp dir.
            config.data_dir =
                std::env::temp_dir().join(format!("mooring-srv-{}", uuid::Uuid::new_v4()));
            own_dir = Some(config.data_dir.clone());
        }
        let mailer = config.mailer().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let site =
            assets::find_site_dir(config.site_dir.as_deref()).map(|d| d.display().to_string());
        let leptos = LeptosOptions::builder()
            .output_name(assets::OUTPUT_NAME)
            .site_root(site.unwrap_or_else(|| ".".into()))
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let nodes =
            mooring_server::cli::nodes_of(&db.db, &MasterKey::from_hex(&"ab".repeat(32)).unwrap());
        let state = AppState::from(Services {
            db: db.db.clone(),
            config: Arc::new(config),
            keys: Arc::new(Keys::derive(
                &MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
            )),
            mailer: Arc::new(mailer),
            metrics: Default::default(),
            leptos,
            started: Instant::now(),
            bootstrap_closed: Default::default(),
            nodes: nodes.clone(),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(http::launch(listener, http::app(state), async move {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            nodes,
            stop: Some(tx),
            task: Some(task),
            own_dir,
        }
    }

    /// The server's node layer (same key vault and pool).
    pub fn nodes(&self) -> &mooring_core::nodes::servers::Nodes {
        &self.nodes
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sign in on the mpanel surface; the access token.
    pub async fn jwt(&self, email: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK, "sign in as {email}");
        r.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Stop gracefully and wait for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        if let Some(dir) = self.own_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A real SMTP server on loopback (aiosmtpd from Debian's python3-aiosmtpd,
/// installed by `./x setup`) that stores what it receives in a Maildir.
pub struct SmtpSink {
    pub port: u16,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("mooring-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("Maildir"))
            .spawn()
            .expect("start aiosmtpd (Debian package python3-aiosmtpd; `./x setup` installs it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return SmtpSink { port, dir, child };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, decoded from quoted-printable.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.join("Maildir/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .map(|m| {
                m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .collect();
        out.sort();
        out
    }

    /// Wait until `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} messages, got {}", self.messages().len());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The start of most billing tests: a "CloudPod Mini" at 9.99 a month in
/// `currency`, a customer named `name` with `email`, and the invoice of
/// their order for it. Returns `(admin view, product id, customer id, invoice)`.
pub async fn sold_cloudpod(
    db: &mooring_core::Db,
    currency: &str,
    name: &str,
    email: &str,
) -> (
    mooring_core::billing::Viewer,
    String,
    String,
    mooring_core::billing::invoices::Invoice,
) {
    use mooring_core::{billing::products::PriceInput, testkit::shop};
    let admin = shop::admin();
    let mut input = shop::monthly("CloudPod Mini", "cloudpod", "CPOD", "9.99");
    input.billing_cycles = Some(vec![PriceInput {
        cycle: "monthly".into(),
        price: "9.99".parse().unwrap(),
        currency: currency.into(),
    }]);
    let pod = shop::product(db, &admin, input).await;
    let cust = shop::customer(db, &admin, name, email).await;
    let (_, inv, _) = shop::order(db, &admin, &cust.id, &pod.id).await;
    (admin, pod.id, cust.id, inv)
}

/// One JSON API call with a bearer token: the status and the body (null when not JSON).
pub async fn call(
    s: &TestServer,
    m: reqwest::Method,
    path: &str,
    jwt: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut r = s.client.request(m, s.url(path)).bearer_auth(jwt);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (
        r.status(),
        r.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// The `name=value` of the cookie an answer sets (the session cookie).
pub fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Sign in through the portal's form, as a browser would: the session cookie.
pub async fn portal_session(s: &TestServer, email: &str, password: &str) -> String {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(s.url("/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "signing in {email}"
    );
    set_cookie(&r)
}
