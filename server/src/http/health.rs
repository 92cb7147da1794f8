//! Health and status of every surface, with a real database check.

use std::time::Duration;

use axum::{extract::State, Json};
use mooring_core::health::{check_database, DependencyState};
use serde_json::{json, Value};

use super::error::ApiError;
use crate::state::AppState;

const DB_TIMEOUT: Duration = Duration::from_secs(2);

/// Ok when the database answers; 503 in the surface's error shape when not.
async fn require_database(state: &AppState) -> Result<(), ApiError> {
    let db = check_database(&state.db, DB_TIMEOUT).await;
    match db.state {
        DependencyState::Down => {
            tracing::warn!(error = ?db.error, "health check: database down");
            Err(ApiError::unavailable(
                "database_unavailable",
                "the database does not answer",
            ))
        }
        _ => Ok(()),
    }
}

/// `GET /api/health` (mpanel).
pub async fn mpanel_health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    require_database(&state).await?;
    Ok(Json(json!({ "status": "ok", "service": "mpanel-api" })))
}

/// `GET /api/status` (mpanel): dependencies checked live. Always 200: it
/// reports on the dependencies, the health routes are what load balancers ask.
/// A job ready to run that waited longer than this means no worker takes jobs.
const QUEUE_STALL_SECS: i64 = 300;

pub async fn mpanel_status(State(state): State<AppState>) -> Json<Value> {
    let db = check_database(&state.db, DB_TIMEOUT).await;
    let queue = match db.state {
        DependencyState::Down => DependencyState::Down,
        _ => match mooring_core::jobs::oldest_ready_wait(&state.db).await {
            Ok(Some(waited)) if waited > QUEUE_STALL_SECS => DependencyState::Degraded,
            Ok(_) => DependencyState::Ok,
            Err(_) => DependencyState::Down,
        },
    };
    Json(json!({
            "service": "mpanel-api",
            "version": mooring_core::VERSION,
            "uptimeSeconds": state.started.elapsed().as_secs(),
            "dependencies": {
                "database": db.state,
                // Mooring needs no Redis of its own; nodes' Redis is per site.
                "redis": DependencyState::NotConfigured,
                // The job queue lives in the database: degraded when work
                // ready to run waits (no worker is taking it).
                "queue": queue,
                "proxmox": DependencyState::NotConfigured,
            },
    }))
}

/// `GET /health` (tenant).
pub async fn tenant_health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    require_database(&state).await?;
    Ok(Json(json!({ "ok": true, "status": "ok" })))
}

/// `GET /api/v1/health` (rustploy).
pub async fn rustploy_health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    require_database(&state).await?;
    Ok(Json(
        json!({ "status": "ok", "version": mooring_core::VERSION }),
    ))
}
