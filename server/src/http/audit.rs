//! `GET /api/audit`: the append-only audit trail (tenant admins).

use axum::{extract::State, Json};
use mooring_core::audit::{self, AuditFilter, Event};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiQuery},
};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    actor_id: Option<String>,
    #[serde(rename = "type")]
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    since: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "tenantId": e.tenant_id,
        // Callers that are no user (API keys) are recorded with an empty actor.
        "actorId": e.actor_id.as_deref().filter(|a| !a.is_empty()),
        "action": e.action,
        "resourceType": e.resource_type,
        "resourceId": e.resource_id,
        "metadata": serde_json::from_str::<Value>(&e.metadata).unwrap_or(Value::Null),
        "ip": e.ip,
        "createdAt": e.created_at,
        "seq": e.seq,
        "prevHash": e.prev_hash,
        "hash": e.hash,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let filter = AuditFilter {
        actor_id: q.actor_id,
        action: q.action,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        since: q.since,
    };
    let (items, total) = audit::list(&state.db, &p, &filter, page).await?;
    Ok(Json(
        json!({ "items": items.iter().map(event_json).collect::<Vec<_>>(), "total": total }),
    ))
}
