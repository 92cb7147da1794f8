//! mpanel tenants (§3, platform admins) and operator users (§4.1, tenant admins).
//! Thin: parse, call core (which authorizes against the caller), map.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::{
    identity::Role,
    paging::PageQuery,
    tenants,
    users::{self, NewUser, UserChange},
    CoreError,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::{Caller, ClientIp},
    error::{checked_page, ApiError, ApiJson, ApiQuery},
};
use crate::state::AppState;

pub async fn list_tenants(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let (items, total) = tenants::list(&state.db, &p, page).await?;
    Ok(Json(json!({ "items": items, "total": total })))
}

pub async fn get_tenant(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(tenants::get(&state.db, &p, &id).await?)))
}

#[derive(Deserialize)]
pub struct TenantBody {
    name: String,
    status: Option<String>,
}

pub async fn create_tenant(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<TenantBody>,
) -> Result<Response, ApiError> {
    let t = tenants::create(&state.db, &p, &b.name, b.status.as_deref(), ip).await?;
    Ok((StatusCode::CREATED, Json(json!(t))).into_response())
}

fn parse_role(roles: &[String]) -> Result<Role, ApiError> {
    let invalid = |m: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            m.to_string(),
        )
        .with_field("roles", m.to_string())
    };
    match roles {
        [one] => {
            Role::parse(one).map_err(|_| invalid("roles must be one of admin, staff, customer"))
        }
        [] => Err(invalid("give one role")),
        _ => Err(invalid("an account has exactly one role")),
    }
}

pub async fn list_users(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let (items, total) = users::list(&state.db, &p, page).await?;
    Ok(Json(json!({ "items": items, "total": total })))
}

pub async fn get_user(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(users::get(&state.db, &p, &id).await?)))
}

#[derive(Deserialize)]
pub struct CreateUserBody {
    name: String,
    email: String,
    password: SecretString,
    roles: Vec<String>,
    status: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    let role = parse_role(&b.roles)?;
    let u = users::create(
        &state.db,
        &p,
        NewUser {
            name: b.name,
            email: b.email,
            role,
            status: b.status,
            password: b.password,
        },
        ip,
    )
    .await
    .map_err(user_error)?;
    Ok((StatusCode::CREATED, Json(json!(u))).into_response())
}

#[derive(Deserialize)]
pub struct UpdateUserBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<SecretString>,
    roles: Option<Vec<String>>,
    status: Option<String>,
}

pub async fn update_user(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateUserBody>,
) -> Result<Json<Value>, ApiError> {
    if b.name.is_none()
        && b.email.is_none()
        && b.password.is_none()
        && b.roles.is_none()
        && b.status.is_none()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "nothing to change",
        ));
    }
    let role = b.roles.as_deref().map(parse_role).transpose()?;
    let u = users::update(
        &state.db,
        &p,
        &id,
        UserChange {
            name: b.name,
            email: b.email,
            role,
            status: b.status,
            password: b.password,
        },
        ip,
    )
    .await
    .map_err(user_error)?;
    Ok(Json(json!(u)))
}

pub async fn delete_user(
    State(state): State<AppState>,
    Caller(p): Caller,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    users::delete(&state.db, &p, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An account error, with the accounts API's own codes for a taken email
/// and the last admin (core names the field; no message is parsed).
fn user_error(e: CoreError) -> ApiError {
    let code = match &e {
        e if e.is_unique_violation() && e.field() == Some("email") => Some("email_taken"),
        CoreError::Conflict(m) if m == users::LAST_ADMIN => Some("last_admin"),
        _ => None,
    };
    let mut err = ApiError::from(e);
    if let Some(code) = code {
        err.code = code.into();
    }
    err
}
