//! Sign-in, sign-out and "who am I" on the wp, mpanel and rustploy surfaces.
//! One identity system underneath: the same accounts, throttling and audit.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::{
    audit::{self, NewEvent},
    clock,
    identity::{
        self,
        login::{self, LoginOutcome},
        refresh::{self, RefreshError},
        reset::{self, ConfirmError},
        session_store::{SIGNED_IN_AT_KEY, USER_KEY},
        tokens::jwt_sign,
        Principal, Role, User,
    },
    CoreError,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;

use super::{
    auth::{AccessClaims, Caller, ClientIp, ACCESS_TOKEN_SECS},
    error::{ApiError, ApiJson},
};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: SecretString,
}

impl LoginBody {
    pub fn new(email: String, password: String) -> LoginBody {
        LoginBody {
            email,
            password: SecretString::from(password),
        }
    }
}

async fn audit_best_effort(state: &AppState, ev: NewEvent) {
    if let Err(e) = audit::record(&state.db, ev).await {
        tracing::error!(error = %e, "could not write an audit event");
    }
}

/// Check the credentials, throttled, and audit the attempt.
pub async fn authenticate(
    state: &AppState,
    ip: Option<String>,
    body: LoginBody,
) -> Result<User, ApiError> {
    if body.email.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "email is required",
        )
        .with_field("email", "required"));
    }
    let outcome = login::attempt(&state.db, &body.email, body.password, ip.as_deref()).await?;
    match outcome {
        LoginOutcome::Ok(user) => {
            audit_best_effort(
                state,
                NewEvent::new("auth.login")
                    .tenant(&user.tenant_id)
                    .actor(Some(user.id.clone()))
                    .resource("user", &user.id)
                    .ip(ip),
            )
            .await;
            Ok(user)
        }
        LoginOutcome::Invalid => {
            audit_best_effort(
                state,
                NewEvent::new("auth.login_failed")
                    .meta(json!({ "email": body.email.trim().to_lowercase() }))
                    .ip(ip),
            )
            .await;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong email or password",
            ))
        }
        LoginOutcome::Locked { retry_after_secs } => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed sign-ins; try again in {retry_after_secs} seconds"),
        )
        .retry_after(retry_after_secs)),
    }
}

/// Start a browser session for `user` with a new id; returns the token.
pub async fn start_session(session: &Session, user: &User) -> Result<String, ApiError> {
    // A new id at sign-in: a session id planted before sign-in is worthless.
    session.cycle_id().await.map_err(ApiError::internal)?;
    session
        .insert(USER_KEY, &user.id)
        .await
        .map_err(ApiError::internal)?;
    session
        .insert(SIGNED_IN_AT_KEY, clock::now())
        .await
        .map_err(ApiError::internal)?;
    session.save().await.map_err(ApiError::internal)?;
    session
        .id()
        .map(|id| id.to_string())
        .ok_or_else(|| ApiError::internal("session has no id after save"))
}

pub async fn end_session(
    state: &AppState,
    session: &Session,
    ip: Option<String>,
) -> Result<(), ApiError> {
    let user: Option<String> = session.get(USER_KEY).await.map_err(ApiError::internal)?;
    session.flush().await.map_err(ApiError::internal)?;
    if let Some(user) = user {
        audit_best_effort(
            state,
            NewEvent::new("auth.logout")
                .actor(Some(user.clone()))
                .resource("user", user)
                .ip(ip),
        )
        .await;
    }
    Ok(())
}

/// `POST /api/login` (wp): `{ success, session_token }` and the cookie.
pub async fn wp_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let user = authenticate(&state, ip, body).await?;
    let token = start_session(&session, &user).await?;
    Ok(Json(json!({ "success": true, "session_token": token })))
}

/// `POST /api/logout` (wp): ends the session server-side and clears the cookie.
pub async fn wp_logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<Json<Value>, ApiError> {
    end_session(&state, &session, ip).await?;
    Ok(Json(json!({ "success": true })))
}

fn mpanel_user(u: &User) -> Value {
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "roles": [u.role.as_str()],
        "tenantId": u.tenant_id,
    })
}

fn access_token(state: &AppState, u: &User) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    jwt_sign(
        &AccessClaims {
            sub: u.id.clone(),
            tid: u.tenant_id.clone(),
            iat: now,
            exp: now + ACCESS_TOKEN_SECS,
        },
        &state.keys.jwt,
    )
}

/// `POST /api/auth/login` (mpanel): a JWT, a refresh token and the user.
pub async fn mpanel_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let user = authenticate(&state, ip, body).await?;
    let refresh = refresh::issue(&state.db, &user.id).await?;
    Ok(Json(json!({
        "token": access_token(&state, &user),
        "refreshToken": refresh,
        "user": mpanel_user(&user),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/auth/refresh` (mpanel): spend the refresh token, get a new pair.
pub async fn mpanel_refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<Value>, ApiError> {
    match refresh::rotate(&state.db, body.refresh_token.trim()).await? {
        Ok((user_id, next)) => {
            let user = identity::user_by_id(&state.db, &user_id)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "account_unavailable",
                        "this account is disabled",
                    )
                })?;
            Ok(Json(
                json!({ "token": access_token(&state, &user), "refreshToken": next }),
            ))
        }
        Err(RefreshError::Reused) => {
            audit_best_effort(&state, NewEvent::new("auth.refresh_reused").ip(ip)).await;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was already used; every token of this sign-in is revoked, sign in again",
            ))
        }
        Err(RefreshError::Invalid) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is unknown, expired or revoked",
        )),
    }
}

fn permissions(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => vec!["*"],
        Role::Staff => vec!["read:*", "write:customers", "write:services", "write:jobs"],
        Role::Customer => vec!["read:own", "write:own"],
    }
}

async fn me_user(state: &AppState, p: &Principal) -> Result<User, ApiError> {
    identity::user_by_id(&state.db, &p.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "account_unavailable",
                "this account no longer exists",
            )
        })
}

/// `GET /api/auth/me` (mpanel).
pub async fn mpanel_me(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    let u = me_user(&state, &p).await?;
    let mut v = mpanel_user(&u);
    v["permissions"] = json!(permissions(u.role));
    Ok(Json(v))
}

fn rustploy_user(u: &User) -> Value {
    json!({ "id": u.id, "email": u.email, "name": u.name, "role": u.role.as_str() })
}

/// `POST /api/v1/auth/login` (rustploy): the user, the session token and the cookie.
pub async fn rustploy_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let user = authenticate(&state, ip, body).await?;
    let token = start_session(&session, &user).await?;
    Ok(Json(
        json!({ "user": rustploy_user(&user), "session_token": token }),
    ))
}

/// `POST /api/v1/auth/logout` (rustploy): 204.
pub async fn rustploy_logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<Response, ApiError> {
    end_session(&state, &session, ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/auth/me` (rustploy).
pub async fn rustploy_me(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    let u = me_user(&state, &p).await?;
    Ok(Json(rustploy_user(&u)))
}

#[derive(Deserialize)]
pub struct ResetRequestBody {
    email: String,
}

/// Send the reset mail in the background: the answer (and its timing) is the
/// same whether or not the address has an account.
pub fn spawn_reset_request(state: &AppState, email: String, ip: Option<String>) {
    let state = state.clone();
    let link = format!("{}/reset-password", state.config.base_url());
    tokio::spawn(async move {
        if let Err(e) = reset::request(&state.db, &state.mailer, &email, &link, ip).await {
            tracing::error!(error = %e, "password reset mail failed");
        }
    });
}

/// `POST /api/v1/auth/password-reset/request`: always 202 `{ ok: true }`.
pub async fn reset_request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<ResetRequestBody>,
) -> Response {
    spawn_reset_request(&state, b.email, ip);
    (StatusCode::ACCEPTED, Json(json!({ "ok": true }))).into_response()
}

#[derive(Deserialize)]
pub struct ResetConfirmBody {
    token: String,
    new_password: SecretString,
}

/// Set a new password with a reset token; the error, if any, as an ApiError.
pub async fn confirm_reset(
    state: &AppState,
    token: &str,
    pw: SecretString,
    ip: Option<String>,
) -> Result<(), ApiError> {
    match reset::confirm(&state.db, token, pw, ip).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ConfirmError::InvalidToken)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_reset_token",
            "this reset link is unknown, used or expired; ask for a new one",
        )),
        // Core names the password `password`; this body calls it `new_password`.
        Err(CoreError::Field { field, message }) if field == "password" => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("new_password: {message}"),
        )
        .with_field("new_password", message)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/auth/password-reset/confirm`: `{ ok: true }`; every session of
/// the account ends.
pub async fn reset_confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<ResetConfirmBody>,
) -> Result<Json<Value>, ApiError> {
    confirm_reset(&state, &b.token, b.new_password, ip).await?;
    Ok(Json(json!({ "ok": true })))
}
