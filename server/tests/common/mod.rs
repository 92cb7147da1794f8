//! A real Mooring server on a port-0 listener, for API tests.
#![allow(dead_code)]

use std::{sync::Arc, time::Instant};

use leptos::prelude::LeptosOptions;
use mooring_core::testkit::TestDb;
use mooring_server::{
    assets,
    config::{Config, MasterKey},
    http,
    state::{AppState, Keys},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        Self::start_with(db, Config::default()).await
    }

    pub async fn start_with(db: TestDb, config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let site = assets::find_site_dir(None).map(|d| d.display().to_string());
        let leptos = LeptosOptions::builder()
            .output_name(assets::OUTPUT_NAME)
            .site_root(site.unwrap_or_else(|| ".".into()))
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let state = AppState {
            db: db.db.clone(),
            config: Arc::new(config),
            keys: Arc::new(Keys::derive(
                &MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
            )),
            leptos,
            started: Instant::now(),
            bootstrap_closed: Default::default(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(http::launch(listener, http::app(state), async move {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stop gracefully and wait for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}
