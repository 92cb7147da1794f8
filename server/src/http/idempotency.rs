//! `Idempotency-Key` on the create endpoints, the way Stripe does it.
//!
//! [`layer`] sits inside `auth::resolve` (it needs the caller) and outside
//! the routes. A `POST` to one of [`CREATES`] that carries the header is
//! claimed in core ([`mooring_core::idempotency`]) per tenant and credential
//! before it runs:
//!
//! - the first request runs, and its answer (2xx and 4xx alike) is kept for
//!   24 hours; an answer that failed on our side (5xx, 408, 429, a panic) is
//!   not kept, so a retry runs the request again;
//! - the same key with the same method, path and body answers the kept answer
//!   again with `Idempotent-Replayed: true`, and nothing runs twice;
//! - the same key with another request is refused: 422 `idempotency_key_reused`;
//! - a duplicate that arrives while the first still runs waits for it (up to
//!   [`WAIT`]), else 409 `idempotency_key_in_progress` with `Retry-After`.
//!
//! The claim and the handler run in a task of their own, so a client that
//! hangs up does not cancel them halfway: the answer it lost is kept for its
//! retry.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use mooring_core::{
    idempotency::{self, Begin, Guard, Scope, StoredResponse},
    identity::Via,
};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{auth::Auth, error::ApiError};
use crate::state::AppState;

/// The create endpoints that honour `Idempotency-Key` (`POST` only).
pub const CREATES: &[&str] = &[
    "/api/orders",
    "/api/customers",
    "/api/products",
    "/api/cloudpods",
    "/api/payments/session",
    "/api/v1/tokens",
    "/api/apikeys",
    "/api/users",
    "/api/tenants",
    "/api/servers",
];

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a duplicate waits for the first request before 409.
pub const WAIT: Duration = Duration::from_secs(5);
/// How often a waiting duplicate looks again.
const POLL: Duration = Duration::from_millis(50);
/// How often a running request pushes its claim's lease out.
const RENEW: Duration = Duration::from_secs(20);
/// Answer headers kept with the body.
const KEPT_HEADERS: [header::HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];
/// Marks a kept answer that is an [`ApiError`] (re-rendered in the surface's shape).
const API_ERROR: &str = "x-mooring-api-error";
/// The largest answer kept (create answers are small JSON objects).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// An [`ApiError`] as kept.
#[derive(Serialize, Deserialize)]
struct KeptError {
    code: String,
    message: String,
    fields: Vec<(String, String)>,
    retry_after: Option<u64>,
}

/// Middleware: honour `Idempotency-Key` on [`CREATES`].
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST
        || !req.headers().contains_key(HEADER)
        || !CREATES.contains(&req.uri().path())
    {
        return next.run(req).await;
    }
    // Anonymous or invalid callers: the route refuses them.
    // (The request's body is not `Sync`: hold only its parts across awaits.)
    let auth = req.extensions().get::<Auth>().cloned();
    let scope = match caller(&state, auth, req.headers()).await {
        Ok(Some(scope)) => scope,
        Ok(None) => return next.run(req).await,
        Err(e) => return e.into_response(),
    };
    let key = match req.headers().get(HEADER).map(|v| v.to_str()) {
        Some(Ok(k)) => k.to_string(),
        _ => return bad_key("must be printable ASCII characters (a UUID is a good key)"),
    };
    if let Err(mooring_core::CoreError::Field { message, .. }) = idempotency::validate_key(&key) {
        return bad_key(&message);
    }
    let (parts, body) = req.into_parts();
    // Read the body under the same size limit as the handlers.
    let mut only_body = Request::new(body);
    *only_body.extensions_mut() = parts.extensions.clone();
    let bytes = match Bytes::from_request(only_body, &()).await {
        Ok(b) => b,
        Err(rej) => {
            let status = rej.status();
            return if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(status, None)
            } else {
                ApiError::new(status, "bad_request", rej.body_text())
            }
            .into_response();
        }
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(parts.uri.path());
    let fp = idempotency::fingerprint(parts.method.as_str(), target, &bytes);
    // From the claim on, the work is a task of its own: a client that hangs
    // up cancels neither a claim halfway nor the request it claimed.
    let db = state.db.clone();
    let task = tokio::spawn(
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                match idempotency::begin(&db, &scope, &key, &fp).await {
                    Err(e) => return ApiError::from(e).into_response(),
                    Ok(Begin::Fresh(guard)) => {
                        let req = Request::from_parts(parts, Body::from(bytes));
                        return run(guard, req, next).await;
                    }
                    Ok(Begin::Replay(kept)) => return replay(kept),
                    Ok(Begin::Mismatch) => {
                        return ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "idempotency_key_reused",
                            "this Idempotency-Key was used with another request (method, path \
                             or body); use a new key for a new request",
                        )
                        .with_field("Idempotency-Key", "was used with another request")
                        .into_response()
                    }
                    Ok(Begin::InProgress) => {
                        if tokio::time::Instant::now() >= deadline {
                            return ApiError::new(
                                StatusCode::CONFLICT,
                                "idempotency_key_in_progress",
                                "a request with this Idempotency-Key is still running; retry shortly",
                            )
                            .retry_after(1)
                            .into_response();
                        }
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
        }
        .in_current_span(),
    );
    match task.await {
        Ok(resp) => resp,
        // A panic: the guard, dropped unsettled while unwinding, released the key.
        Err(e) => ApiError::internal(format!("a create request failed: {e}")).into_response(),
    }
}

fn bad_key(message: &str) -> Response {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
        format!("Idempotency-Key: {message}"),
    )
    .with_field("Idempotency-Key", message)
    .into_response()
}

/// Whose keys these are: the caller's tenant and credential. `None` for a
/// caller without valid credentials.
async fn caller(
    state: &AppState,
    auth: Option<Auth>,
    headers: &HeaderMap,
) -> Result<Option<Scope>, ApiError> {
    let p = match auth {
        Some(Auth::Principal(p) | Auth::User(p, _)) => p,
        _ => return Ok(None),
    };
    let owner = match p.via {
        Via::Session | Via::Jwt => Some(format!("user:{}", p.user_id)),
        Via::AccessToken => {
            let secret = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match secret {
                Some(s) => idempotency::token_owner(&state.db, s).await?,
                None => None,
            }
        }
        Via::ApiKey => {
            let secret = headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim);
            match secret {
                Some(s) => idempotency::api_key_owner(&state.db, s).await?,
                None => None,
            }
        }
        Via::Bootstrap => Some("bootstrap".to_string()),
    };
    Ok(owner.map(|owner| Scope {
        tenant_id: p.tenant_id.clone(),
        owner,
    }))
}

/// Run the request that holds `guard` and keep its answer (or give the key
/// up when it failed on our side).
async fn run(guard: Guard, req: Request, next: Next) -> Response {
    let handler = next.run(req);
    tokio::pin!(handler);
    let mut renew = tokio::time::interval(RENEW);
    renew.tick().await;
    let resp = loop {
        tokio::select! {
            resp = &mut handler => break resp,
            _ = renew.tick() => {
                if let Err(e) = guard.renew().await {
                    tracing::warn!(error = %e, "could not renew an idempotency key's lease");
                }
            }
        }
    };
    settle(guard, resp).await
}

/// Keep `resp` as the key's answer, or give the key up.
async fn settle(guard: Guard, resp: Response) -> Response {
    let status = resp.status();
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        if let Err(e) = idempotency::abandon(guard).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ANSWER).await {
        Ok(b) => b,
        Err(e) => {
            let _ = idempotency::abandon(guard).await;
            return ApiError::internal(format!("reading a create answer: {e}")).into_response();
        }
    };
    let kept = match parts.extensions.get::<ApiError>() {
        // Kept as the error itself, so a replay is rendered in the shape of
        // the surface it comes in on, like the first answer was.
        Some(err) => StoredResponse {
            status: status.as_u16(),
            headers: vec![
                (header::CONTENT_TYPE.to_string(), "application/json".into()),
                (API_ERROR.into(), "1".into()),
            ],
            body: serde_json::to_vec(&KeptError {
                code: err.code.to_string(),
                message: err.message.clone(),
                fields: err
                    .fields
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect(),
                retry_after: err.retry_after,
            })
            .unwrap_or_default(),
        },
        None => StoredResponse {
            status: status.as_u16(),
            headers: KEPT_HEADERS
                .iter()
                .filter_map(|name| {
                    let v = parts.headers.get(name)?.to_str().ok()?;
                    Some((name.to_string(), v.to_string()))
                })
                .collect(),
            body: bytes.to_vec(),
        },
    };
    match idempotency::complete(guard, &kept).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!("an idempotency key's claim was taken over before its answer"),
        Err(e) => tracing::warn!(error = %e, "could not keep an idempotent answer"),
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The kept answer again, marked `Idempotent-Replayed: true`.
fn replay(kept: StoredResponse) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut resp = if kept.headers.iter().any(|(n, _)| n == API_ERROR) {
        match serde_json::from_slice::<KeptError>(&kept.body) {
            Ok(e) => {
                let mut err = ApiError::new(status, e.code, e.message);
                for (field, message) in e.fields {
                    err = err.with_field(field, message);
                }
                err.retry_after = e.retry_after;
                err.into_response()
            }
            Err(e) => ApiError::internal(format!("a kept idempotent answer: {e}")).into_response(),
        }
    } else {
        let mut resp = Response::new(Body::from(kept.body));
        *resp.status_mut() = status;
        for (name, value) in &kept.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                resp.headers_mut().insert(n, v);
            }
        }
        resp
    };
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}
