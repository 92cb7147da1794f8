//! `GET /api/audit`: the append-only audit trail (tenant admins).

use axum::{
    extract::{Query, State},
    http::StatusCode,
    Json,
};
use mooring_core::{
    audit::{self, AuditFilter, Event},
    paging::PageQuery,
    CoreError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{auth::Caller, error::ApiError};
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
        "actorId": e.actor_id,
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
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            e.body_text(),
        )
    })?;
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .check()
    .map_err(|e| ApiError::from(e).with_field("pageSize", "out of range"))?;
    let filter = AuditFilter {
        actor_id: q.actor_id,
        action: q.action,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        since: q.since,
    };
    let (items, total) = audit::list(&state.db, &p, &filter, page)
        .await
        .map_err(|e| match e {
            CoreError::Invalid(m) => {
                ApiError::from(CoreError::Invalid(m.clone())).with_field("since", m)
            }
            other => other.into(),
        })?;
    Ok(Json(
        json!({ "items": items.iter().map(event_json).collect::<Vec<_>>(), "total": total }),
    ))
}
