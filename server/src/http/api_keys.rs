//! `/api/apikeys` (documented mpanel extension): tenant admins manage the
//! API keys of the tenant surface (`X-API-Key`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::identity::api_keys;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::{Caller, ClientIp},
    error::{ApiError, ApiJson},
};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
}

/// `POST /api/apikeys`: 201 with the key and its secret, shown once.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let (key, secret) = api_keys::create_for(&state.db, &p, &body.name, ip)
        .await
        .map_err(|e| ApiError::from(e).with_field("name", "1 to 100 characters"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "apiKey": key, "secret": secret })),
    )
        .into_response())
}

/// `GET /api/apikeys`.
pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    let items = api_keys::list_for(&state.db, &p).await?;
    let total = items.len();
    Ok(Json(json!({ "items": items, "total": total })))
}

/// `DELETE /api/apikeys/{id}`: 204.
pub async fn revoke(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    api_keys::revoke_for(&state.db, &p, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
