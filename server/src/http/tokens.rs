//! `/api/v1/tokens` (rustploy): personal access and service tokens.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::identity::access_tokens::{self, NewToken};
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
    kind: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

/// `POST /api/v1/tokens`: 201 with the token and its secret, shown once.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let new = NewToken::parse(&body.name, &body.kind, &scopes, body.expires_at.as_deref())?;
    let (token, secret) = access_tokens::create(&state.db, &p, new, ip).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "secret": secret })),
    )
        .into_response())
}

/// `GET /api/v1/tokens`.
pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    let items = access_tokens::list(&state.db, &p).await?;
    Ok(Json(json!({ "items": items })))
}

/// `DELETE /api/v1/tokens/{token_id}`: 204.
pub async fn revoke(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    access_tokens::revoke(&state.db, &p, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
