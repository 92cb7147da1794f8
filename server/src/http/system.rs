//! `GET /api/metrics` (wp counters), `GET /api/system/health` and
//! `GET /api/system/events` (mpanel): what operators watch.

use axum::{extract::State, Json};
use mooring_core::{
    events::{self, Event, EventFilter},
    system,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiQuery},
};
use crate::state::AppState;

pub async fn wp_metrics(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<system::WpMetrics>, ApiError> {
    Ok(Json(system::wp_metrics(&state.db, &p).await?))
}

pub async fn health(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<system::SystemHealth>, ApiError> {
    Ok(Json(system::health(&state.db, &p).await?))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    source: Option<String>,
    level: Option<String>,
    since: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "tenantId": e.tenant_id,
        "source": e.source,
        "level": e.level,
        "type": e.kind,
        "message": e.message,
        "jobId": e.job_id,
        "serverId": e.server_id,
        "createdAt": e.created_at,
    })
}

pub async fn events(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let filter = EventFilter {
        source: q.source,
        level: q.level,
        since: q.since,
    };
    let (items, total) = events::list(&state.db, &p, &filter, page).await?;
    Ok(Json(
        json!({ "items": items.iter().map(event_json).collect::<Vec<_>>(), "total": total }),
    ))
}
