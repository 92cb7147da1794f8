//! Errors of the JSON surfaces, each answered in its own contract's shape.
//!
//! Handlers return [`ApiError`]. Its response carries the error as an
//! extension; [`shape_errors`] (one middleware over the whole router) renders
//! it in the shape of the surface the request came in on. The same middleware
//! turns every other error response on an API path (axum's rejections, the
//! 404 and 405 fallbacks, body-limit and timeout layers) into that shape, so no
//! API client ever sees a plain-text or HTML error.

use std::borrow::Cow;

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use mooring_core::{CoreError, ViolationKind};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// The API surfaces, told apart by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/api/...`: the mpanel and wp contracts (both error shapes in one body).
    Api,
    /// `/api/v1/...` and `/metrics`: the rustploy contract.
    Rustploy,
    /// `/sites...` and `/health`: the tenant contract.
    Tenant,
    /// Everything else: HTML pages, assets, server functions.
    Portal,
}

impl Surface {
    pub fn of(path: &str) -> Surface {
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if under("/api/v1") || path == "/metrics" {
            Surface::Rustploy
        } else if under("/api") {
            Surface::Api
        } else if under("/sites") || path == "/health" {
            Surface::Tenant
        } else {
            Surface::Portal
        }
    }
}

/// One invalid input field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An error answer: status, stable snake_case code, human message, field errors.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    pub fields: Vec<FieldError>,
    /// Seconds until trying again makes sense (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.fields.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// A 500 whose cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// The code and message an error status gets when nothing more specific is known.
    pub fn from_status(status: StatusCode, message: Option<String>) -> ApiError {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            409 => "conflict",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "validation_failed",
            429 => "too_many_requests",
            503 => "service_unavailable",
            504 => "timeout",
            s if s >= 500 => "internal_error",
            _ => "bad_request",
        };
        let default = match status.as_u16() {
            404 => "no such resource".to_string(),
            405 => "this method is not allowed on this path".to_string(),
            413 => "the request body is too large".to_string(),
            415 => "send the body as JSON with Content-Type: application/json".to_string(),
            s if s >= 500 => "something went wrong on our side; it has been logged".to_string(),
            _ => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase(),
        };
        let message = match message {
            // Server-side failures never leak their text to clients.
            Some(m) if !m.trim().is_empty() && status.as_u16() < 500 => m.trim().to_string(),
            _ => default,
        };
        ApiError::new(status, code, message)
    }

    /// The body in a surface's shape.
    pub fn body(&self, surface: Surface) -> Value {
        match surface {
            Surface::Rustploy => json!({
                "error": { "code": self.code, "message": self.message, "details": self.fields }
            }),
            Surface::Tenant => {
                let mut v = json!({ "ok": false, "code": self.code, "error": self.message });
                if !self.fields.is_empty() {
                    v["fields"] = json!(self.fields);
                }
                v
            }
            // The /api base carries two contracts: wp reads `code`/`message`,
            // mpanel reads `error.{code,message,details}`. One body serves both.
            Surface::Api | Surface::Portal => {
                let details = if self.fields.is_empty() {
                    json!({})
                } else {
                    json!({ "fields": self.fields })
                };
                json!({
                    "code": self.code,
                    "message": self.message,
                    "error": { "code": self.code, "message": self.message, "details": details }
                })
            }
        }
    }

    fn render(&self, surface: Surface, mut base: Response) -> Response {
        let bytes = serde_json::to_vec(&self.body(surface)).unwrap_or_default();
        *base.status_mut() = self.status;
        base.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        base.headers_mut().remove(header::CONTENT_LENGTH);
        if let Some(secs) = self.retry_after {
            base.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        *base.body_mut() = Body::from(bytes);
        base
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Rendered in the mpanel/wp shape here; `shape_errors` re-renders it
        // for the surface the request came in on.
        let mut resp = self.render(Surface::Api, Response::new(Body::empty()));
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match e {
            CoreError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m)
            }
            CoreError::Field { field, message } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{field}: {message}"),
            )
            .with_field(&field, message),
            CoreError::NotFound => ApiError::not_found(),
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            CoreError::Violation {
                kind,
                field,
                message,
            } => {
                let (status, code, says) = match kind {
                    ViolationKind::Unique => (StatusCode::CONFLICT, "conflict", "is taken"),
                    ViolationKind::ForeignKey => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "does not exist",
                    ),
                };
                let e = ApiError::new(status, code, message);
                match field {
                    Some(f) => e.with_field(f, says),
                    None => e,
                }
            }
            CoreError::Unavailable(m) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", m)
            }
            other => ApiError::internal(other),
        }
    }
}

/// Middleware: answer every error on an API path in that surface's shape.
pub async fn shape_errors(req: Request, next: Next) -> Response {
    let surface = Surface::of(req.uri().path());
    let resp = next.run(req).await;
    if surface == Surface::Portal {
        return resp;
    }
    if let Some(err) = resp.extensions().get::<ApiError>().cloned() {
        return err.render(surface, resp);
    }
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // Rejections from axum and tower-http carry a short plain-text reason.
    let text = axum::body::to_bytes(body, 8 * 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let message = if is_json { None } else { text };
    ApiError::from_status(status, message)
        .render(surface, Response::from_parts(parts, Body::empty()))
}

/// A JSON request body, parsed with field-level errors and answered in the
/// surface's shape when it is missing, malformed, too large or not JSON.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            let status = rej.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(status, None)
            } else {
                ApiError::new(status, "bad_request", rej.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// An optional JSON body: an empty body is `None`; anything else must be
/// JSON like [`ApiJson`] requires.
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let (parts, body) = req.into_parts();
        // Read with the request's extensions: they carry the body size limit.
        let mut only_body = Request::new(body);
        *only_body.extensions_mut() = parts.extensions.clone();
        let bytes = Bytes::from_request(only_body, state).await.map_err(|rej| {
            let status = rej.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from_status(status, None)
            } else {
                ApiError::new(status, "bad_request", rej.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        <ApiJson<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// Parse a JSON body: syntax errors are 400 `malformed_json`, shape errors
/// 422 `validation_failed` naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |e: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(malformed(&inner));
            }
            let message = inner.to_string();
            // serde reports a missing or unknown field at its parent: name the field itself.
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|p| message.strip_prefix(p))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            let field = match (path.as_str(), named) {
                (".", Some(name)) => name,
                (".", None) => "body".to_string(),
                (_, Some(name)) => format!("{path}.{name}"),
                (_, None) => path,
            };
            let summary = if field == "body" {
                format!("the body does not have the expected shape: {message}")
            } else {
                format!("{field}: {message}")
            };
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                summary,
            )
            .with_field(field, message));
        }
    };
    // Trailing bytes after the value are a syntax error, not ignored.
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// Query-string parameters, answered in the surface's shape (422
/// `validation_failed`) when they do not parse.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("the query string is not valid: {e}"),
                )
            })
    }
}

/// A checked page of a list, naming the parameter that is out of range.
pub fn checked_page(
    page: Option<i64>,
    page_size: Option<i64>,
) -> Result<mooring_core::paging::Page, ApiError> {
    // Core names the parameter that is out of range.
    Ok(mooring_core::paging::PageQuery { page, page_size }.check()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_by_path() {
        assert_eq!(Surface::of("/api/jobs"), Surface::Api);
        assert_eq!(Surface::of("/api"), Surface::Api);
        assert_eq!(Surface::of("/apix"), Surface::Portal);
        assert_eq!(Surface::of("/api/v1/apps"), Surface::Rustploy);
        assert_eq!(Surface::of("/api/v1"), Surface::Rustploy);
        assert_eq!(Surface::of("/api/v10"), Surface::Api);
        assert_eq!(Surface::of("/metrics"), Surface::Rustploy);
        assert_eq!(Surface::of("/sites"), Surface::Tenant);
        assert_eq!(Surface::of("/sites/a/db/status"), Surface::Tenant);
        assert_eq!(Surface::of("/health"), Surface::Tenant);
        assert_eq!(Surface::of("/admin"), Surface::Portal);
        assert_eq!(Surface::of("/_fn/system_status"), Surface::Portal);
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Item {
            quantity: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Order {
            items: Vec<Item>,
        }
        let e = parse_json::<Order>(br#"{"items":[{"quantity":"two"}]}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.fields[0].field, "items[0].quantity");
        let e = parse_json::<Order>(br#"{"items":[}"#).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_ref()),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
        let e = parse_json::<Order>(br#"{"items":[]} trailing"#).unwrap_err();
        assert_eq!(e.code, "malformed_json");
        let e = parse_json::<Order>(br#"{}"#).unwrap_err();
        assert_eq!(e.code, "validation_failed");
        assert_eq!(e.fields[0].field, "items");
        let e = parse_json::<Order>(br#"{"items":[{}]}"#).unwrap_err();
        assert_eq!(e.fields[0].field, "items[0].quantity");
        let e = parse_json::<Order>(br#""just a string""#).unwrap_err();
        assert_eq!(e.fields[0].field, "body");
    }

    #[test]
    fn shapes_per_surface() {
        let e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "bad")
            .with_field("name", "required");
        let api = e.body(Surface::Api);
        assert_eq!(api["code"], "validation_failed");
        assert_eq!(api["message"], "bad");
        assert_eq!(api["error"]["code"], "validation_failed");
        assert_eq!(api["error"]["details"]["fields"][0]["field"], "name");
        let r = e.body(Surface::Rustploy);
        assert_eq!(r["error"]["details"][0]["message"], "required");
        let t = e.body(Surface::Tenant);
        assert_eq!(t["ok"], false);
        assert_eq!(t["error"], "bad");
        assert_eq!(t["code"], "validation_failed");
    }

    #[test]
    fn constraint_violations_name_their_field() {
        let taken = ApiError::from(CoreError::Violation {
            kind: ViolationKind::Unique,
            field: Some("email".into()),
            message: "a customer with this email exists".into(),
        });
        assert_eq!(
            (taken.status, taken.code.as_ref()),
            (StatusCode::CONFLICT, "conflict")
        );
        assert_eq!(taken.fields[0].field, "email");
        assert_eq!(
            taken.body(Surface::Api)["error"]["details"]["fields"][0]["field"],
            "email"
        );
        let missing = ApiError::from(CoreError::Violation {
            kind: ViolationKind::ForeignKey,
            field: Some("customerId".into()),
            message: "no such customer".into(),
        });
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(missing.fields[0].field, "customerId");
    }

    #[test]
    fn server_errors_do_not_leak_their_text() {
        let e = ApiError::from_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("db password is x".into()),
        );
        assert!(!e.message.contains("password"));
        assert_eq!(e.code, "internal_error");
    }
}
