//! Dependency checks for the health and status endpoints.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Db;

/// The state of one dependency, as `/api/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyState {
    Ok,
    Degraded,
    Down,
    NotConfigured,
}

/// Result of checking the control-plane database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseHealth {
    pub state: DependencyState,
    pub backend: &'static str,
    pub latency_ms: u128,
    pub schema_up_to_date: bool,
    pub error: Option<String>,
}

/// Check the database: a round trip within `timeout`, and the schema applied.
pub async fn check_database(db: &Db, timeout: Duration) -> DatabaseHealth {
    let started = Instant::now();
    let backend = db.backend().name();
    let ping = tokio::time::timeout(timeout, db.ping()).await;
    let latency_ms = started.elapsed().as_millis();
    match ping {
        Ok(Ok(())) => {
            let schema_up_to_date = db
                .migration_status()
                .await
                .map(|s| s.up_to_date())
                .unwrap_or(false);
            DatabaseHealth {
                state: if schema_up_to_date {
                    DependencyState::Ok
                } else {
                    DependencyState::Degraded
                },
                backend,
                latency_ms,
                schema_up_to_date,
                error: None,
            }
        }
        Ok(Err(e)) => DatabaseHealth {
            state: DependencyState::Down,
            backend,
            latency_ms,
            schema_up_to_date: false,
            error: Some(e.to_string()),
        },
        Err(_) => DatabaseHealth {
            state: DependencyState::Down,
            backend,
            latency_ms,
            schema_up_to_date: false,
            error: Some(format!("no answer within {} ms", timeout.as_millis())),
        },
    }
}
