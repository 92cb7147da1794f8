//! `/api/v1/tokens` (rustploy): personal access and service tokens.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::identity::access_tokens::{self, parse_scope, Kind, NewToken};
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
    let invalid = |field: &str, msg: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            msg.clone(),
        )
        .with_field(field, msg)
    };
    let kind = Kind::parse(&body.kind).map_err(|e| invalid("kind", e.to_string()))?;
    let scopes = body
        .scopes
        .iter()
        .map(|s| parse_scope(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("scopes", e.to_string()))?;
    let expires_at =
        match body.expires_at.as_deref() {
            None => None,
            Some(s) => Some(mooring_core::clock::parse(s).ok_or_else(|| {
                invalid("expires_at", "expires_at must be an RFC 3339 time".into())
            })?),
        };
    let (token, secret) = access_tokens::create(
        &state.db,
        &p,
        NewToken {
            name: body.name,
            kind,
            scopes,
            expires_at,
        },
        ip,
    )
    .await?;
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
