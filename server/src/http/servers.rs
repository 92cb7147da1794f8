//! mpanel §12 servers (list, get), and the node management the contract
//! file documents as extensions: Mooring's SSH key, add, change, remove,
//! test the connection, accept a changed host key, recent probes.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::nodes::servers::{self, ServerInput};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiJson, ApiQuery},
};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageParams {
    page: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageParams>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let (items, total) = servers::list(&state.db, &p, page).await?;
    Ok(Json(json!({
        "items": items.iter().map(servers::Server::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(servers::get(&state.db, &p, &id).await?.to_json()))
}

/// `GET /api/servers/ssh-key`: the public key to install on nodes.
pub async fn ssh_key(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    p.require_operator("only operators manage servers")?;
    let key = state.nodes.key(&p.tenant_id).await?;
    Ok(Json(json!({
        "publicKey": key.public_openssh,
        "fingerprint": key.fingerprint,
        "install": format!("mkdir -p ~/.ssh && chmod 700 ~/.ssh && echo '{}' >> ~/.ssh/authorized_keys", key.public_openssh),
    })))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ServerInput>,
) -> Result<Response, ApiError> {
    let s = servers::create(&state.nodes, &p, body).await?;
    Ok((StatusCode::CREATED, Json(s.to_json())).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ServerInput>,
) -> Result<Json<Value>, ApiError> {
    let s = servers::update(&state.nodes, &p, &id, body).await?;
    Ok(Json(s.to_json()))
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    servers::delete(&state.nodes, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/servers/{id}/test`: reach it now; 200 either way, with what
/// happened (`ok`, `code`, `message`).
pub async fn test(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = servers::test_connection(&state.nodes, &p, &id).await?;
    Ok(Json(json!({
        "ok": t.ok,
        "code": t.code,
        "message": t.message,
        "hostKeyFingerprint": t.host_key_fingerprint,
        "server": t.server.to_json(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptBody {
    fingerprint: String,
}

pub async fn accept_host_key(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<Json<Value>, ApiError> {
    let s = servers::accept_host_key(&state.nodes, &p, &id, &body.fingerprint).await?;
    Ok(Json(s.to_json()))
}

pub async fn probes(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = servers::probes(&state.db, &p, &id, 60).await?;
    Ok(Json(json!({
        "items": rows.iter().map(servers::ProbeRow::to_json).collect::<Vec<_>>(),
    })))
}
