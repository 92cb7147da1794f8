//! `/api/apikeys` (documented mpanel extension): tenant admins manage the
//! API keys of the tenant surface (`X-API-Key`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::identity::{api_keys, Principal, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::{Caller, ClientIp},
    error::{ApiError, ApiJson},
};
use crate::state::AppState;

fn tenant_admin(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the tenant's admins manage API keys",
        ))
    }
}

fn actor(p: &Principal) -> Option<&str> {
    (!p.user_id.is_empty()).then_some(p.user_id.as_str())
}

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
    tenant_admin(&p)?;
    let (key, secret) = api_keys::create(&state.db, &p.tenant_id, &body.name, actor(&p), ip)
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
    tenant_admin(&p)?;
    let items = api_keys::list(&state.db, &p.tenant_id).await?;
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
    tenant_admin(&p)?;
    api_keys::revoke(&state.db, &p.tenant_id, &id, actor(&p), ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
