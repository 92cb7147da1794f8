//! Authentication and authorization at the edge.
//!
//! [`resolve`] (one middleware over the whole router) turns whatever
//! credential a request carries into an [`Auth`]: a session cookie, an mpanel
//! JWT (`Authorization: Bearer`), later access tokens and API keys. Each
//! authenticated route is wrapped by [`require`] with the [`Access`] it was
//! registered with (see `routes.rs`), so a route cannot forget to check: what
//! is not registered public refuses anonymous callers, read-only tokens are
//! refused on mutations, and cookie-authenticated mutations must come from the
//! same origin (CSRF). Handlers take a [`Principal`] and authorize the object
//! against it in core.

use std::net::IpAddr;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use mooring_core::{
    clock,
    identity::{
        self, access_tokens, api_keys,
        session_store::{SIGNED_IN_AT_KEY, USER_KEY},
        tokens::{jwt_verify, JwtError},
        Principal, Scope, Via,
    },
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::error::ApiError;
use crate::state::AppState;

/// What a route needs from its caller (see `routes.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: sign-in, health, contracts, signed webhooks. A mutation that
    /// carries the session cookie must still come from our own pages.
    Public,
    /// A signed-in caller who is `who` and whose credential allows at least
    /// `scope`.
    Signed { scope: Scope, who: Who },
    /// A portal form posted with the session cookie by `who`.
    Form(Who),
    /// A portal form anyone may post (sign-in, password reset).
    PublicForm,
    /// A Leptos server function called with the session cookie by `who`.
    ServerFn(Who),
}

/// Which callers a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Any signed-in caller, customers included (the handler scopes what each sees).
    Anyone,
    /// Customers' logins only.
    Customer,
    /// Operators: tenant admins and staff.
    Operator,
    /// Tenant admins.
    Admin,
    /// Platform admins.
    PlatformAdmin,
}

impl Who {
    pub fn allows(self, p: &Principal) -> bool {
        match self {
            Who::Anyone => true,
            Who::Customer => p.role == identity::Role::Customer,
            Who::Operator => p.is_operator(),
            Who::Admin => p.role == identity::Role::Admin,
            Who::PlatformAdmin => p.platform_admin,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Who::Anyone => "sign in first",
            Who::Customer => "this is for customers' logins",
            Who::Operator => "this is for operators (admins and staff)",
            Who::Admin => "this needs an admin",
            Who::PlatformAdmin => "this needs a platform admin",
        }
    }
}

/// The caller of a request, as far as credentials tell.
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    Principal(Principal),
    /// A principal that is a person, with the account (for pages that show it).
    User(Principal, std::sync::Arc<identity::User>),
    /// A credential was sent but is not valid (expired, revoked, forged).
    Invalid(ApiError),
}

/// How long an mpanel access token lives.
pub const ACCESS_TOKEN_SECS: i64 = 15 * 60;
/// How long a browser session may last however active it is.
pub const SESSION_ABSOLUTE: time::Duration = time::Duration::days(7);
/// How long a browser session lasts without activity.
pub const SESSION_IDLE: time::Duration = time::Duration::hours(12);

/// Claims of an mpanel access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub tid: String,
    pub iat: i64,
    pub exp: i64,
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

async fn principal_for_user(state: &AppState, user_id: &str, via: Via) -> Result<Auth, ApiError> {
    match identity::cached_user(&state.db, user_id).await? {
        Some(u) if u.active => Ok(Auth::User(Principal::for_user(&u, via, Scope::Admin), u)),
        _ => Ok(Auth::Invalid(unauthorized(
            "account_unavailable",
            "this account no longer exists or is disabled",
        ))),
    }
}

async fn from_bearer(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if token.matches('.').count() == 2 {
        return match jwt_verify::<AccessClaims>(token, &state.keys.jwt, now) {
            Ok(c) => principal_for_user(state, &c.sub, Via::Jwt).await,
            Err(JwtError::Expired) => Ok(Auth::Invalid(unauthorized(
                "token_expired",
                "the access token has expired; refresh it",
            ))),
            Err(_) => Ok(Auth::Invalid(unauthorized(
                "invalid_token",
                "the access token is not valid",
            ))),
        };
    }
    if token.starts_with("mpat_") || token.starts_with("msvc_") {
        return Ok(match access_tokens::authenticate(&state.db, token).await? {
            Some(p) => Auth::Principal(p),
            None => Auth::Invalid(unauthorized(
                "invalid_token",
                "the access token is unknown, expired or revoked",
            )),
        });
    }
    Ok(Auth::Invalid(unauthorized(
        "invalid_token",
        "the token is not valid",
    )))
}

/// The rustploy bootstrap rule: while no account and no token exist, its
/// privileged routes are open (a fresh `mooring serve` creates the first
/// admin, so a default install never is). Once closed it stays closed.
async fn bootstrap(state: &AppState, path: &str) -> Result<Auth, ApiError> {
    use std::sync::atomic::Ordering;
    if !path.starts_with("/api/v1/") || state.bootstrap_closed.load(Ordering::Relaxed) {
        return Ok(Auth::Anonymous);
    }
    let open = mooring_core::users::count(&state.db).await? == 0
        && !access_tokens::any_exist(&state.db).await?;
    if !open {
        state.bootstrap_closed.store(true, Ordering::Relaxed);
        return Ok(Auth::Anonymous);
    }
    Ok(Auth::Principal(Principal {
        user_id: String::new(),
        tenant_id: mooring_core::DEFAULT_TENANT_ID.to_string(),
        role: identity::Role::Admin,
        platform_admin: true,
        scope: Scope::Admin,
        via: Via::Bootstrap,
    }))
}

async fn from_session(state: &AppState, session: &Session) -> Result<Auth, ApiError> {
    let user_id: Option<String> = session.get(USER_KEY).await.map_err(ApiError::internal)?;
    let Some(user_id) = user_id else {
        return Ok(Auth::Anonymous);
    };
    let signed_in: Option<String> = session
        .get(SIGNED_IN_AT_KEY)
        .await
        .map_err(ApiError::internal)?;
    let fresh = signed_in
        .as_deref()
        .and_then(clock::parse)
        .is_some_and(|t| time::OffsetDateTime::now_utc() - t < SESSION_ABSOLUTE);
    if !fresh {
        session.flush().await.map_err(ApiError::internal)?;
        return Ok(Auth::Invalid(unauthorized(
            "session_expired",
            "the session has expired; sign in again",
        )));
    }
    principal_for_user(state, &user_id, Via::Session).await
}

/// Middleware: work out who is calling and leave an [`Auth`] for the routes.
pub async fn resolve(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let auth = match req.headers().get(header::AUTHORIZATION) {
        Some(v) => match v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => from_bearer(&state, token.trim()).await,
            None => Ok(Auth::Invalid(unauthorized(
                "invalid_authorization",
                "send `Authorization: Bearer <token>`",
            ))),
        },
        None => match req.headers().get("x-api-key") {
            Some(key) => match key.to_str().map(str::trim) {
                Ok(key) if !key.is_empty() => match api_keys::authenticate(&state.db, key).await {
                    Ok(Some(p)) => Ok(Auth::Principal(p)),
                    Ok(None) => Ok(Auth::Invalid(unauthorized(
                        "invalid_api_key",
                        "the API key is unknown or revoked",
                    ))),
                    Err(e) => Err(e.into()),
                },
                _ => Ok(Auth::Invalid(unauthorized(
                    "invalid_api_key",
                    "the API key is empty",
                ))),
            },
            None => match from_session(&state, &session).await {
                Ok(Auth::Anonymous) => bootstrap(&state, req.uri().path()).await,
                other => other,
            },
        },
    };
    // A failure while checking credentials (the database is down, say) only
    // matters to routes that need them: public ones, like health, still answer.
    let auth = auth.unwrap_or_else(Auth::Invalid);
    if let Auth::User(_, user) = &auth {
        req.extensions_mut()
            .insert(mooring_app::server::PortalUser {
                id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
                role: user.role.as_str().to_string(),
                tenant_id: user.tenant_id.clone(),
                platform_admin: user.platform_admin,
            });
    }
    req.extensions_mut().insert(auth);
    next.run(req).await
}

/// Is this cookie-carrying request from our own pages? Browsers say so with
/// `Sec-Fetch-Site`, or with an `Origin` matching `Host`. A request with
/// neither is not from a browser, so no cross-site forgery is possible.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, rest)| rest);
            host.is_some() && origin_host == host
        }
        None => true,
    }
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_rejected",
        "cross-site request refused: send it from Mooring's own pages or use a token",
    )
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Does the request carry Mooring's session cookie?
fn has_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim_start().starts_with("session_token="))
}

fn caller_of(req: &Request) -> Auth {
    req.extensions()
        .get::<Auth>()
        .cloned()
        .unwrap_or(Auth::Anonymous)
}

/// A form or page refusal: plain text, in the portal's manner.
fn page_refusal(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

/// Where a public form goes back to when it is refused.
fn form_page(path: &str) -> &str {
    match path {
        "/logout" => "/login",
        other => other,
    }
}

/// Route layer: let the request through only if its caller meets `access`.
pub async fn require(access: Access, req: Request, next: Next) -> Response {
    let safe = is_safe(req.method());
    match access {
        Access::Public => {
            // Public mutations (sign-out, sign-in) with the session cookie
            // must come from our own pages, like every cookie mutation.
            if !safe && has_session_cookie(req.headers()) && !same_origin(req.headers()) {
                return csrf_refused().into_response();
            }
            next.run(req).await
        }
        Access::PublicForm => {
            if !safe && !same_origin(req.headers()) {
                let to = format!("{}?error=forbidden_origin", form_page(req.uri().path()));
                return axum::response::Redirect::to(&to).into_response();
            }
            next.run(req).await
        }
        Access::Form(who) => {
            let p = match caller_of(&req) {
                Auth::User(p, _) if p.via == Via::Session => p,
                _ => return axum::response::Redirect::to("/login").into_response(),
            };
            if !safe && !same_origin(req.headers()) {
                return page_refusal(
                    StatusCode::FORBIDDEN,
                    "Cross-site form refused: send it from Mooring's own page.",
                );
            }
            if !who.allows(&p) {
                return page_refusal(StatusCode::FORBIDDEN, who.refusal());
            }
            next.run(req).await
        }
        Access::ServerFn(who) => match refuse_fn(who, &req) {
            Some(refused) => refused,
            None => next.run(req).await,
        },
        Access::Signed { scope, who } => {
            let p = match caller_of(&req) {
                Auth::Principal(p) | Auth::User(p, _) => p,
                Auth::Invalid(e) => return e.into_response(),
                Auth::Anonymous => {
                    return unauthorized("unauthorized", "sign in, or send a token or API key")
                        .into_response()
                }
            };
            if p.scope < scope {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("this token's scope does not allow this; it needs `{scope:?}`")
                        .to_lowercase(),
                )
                .into_response();
            }
            if p.via == Via::Session && !safe && !same_origin(req.headers()) {
                return csrf_refused().into_response();
            }
            if !who.allows(&p) {
                return ApiError::new(StatusCode::FORBIDDEN, "forbidden", who.refusal())
                    .into_response();
            }
            next.run(req).await
        }
    }
}

/// Why a server function call is refused, if it is: it needs a signed-in
/// person (session) who is `who`, calling from our own pages.
pub fn refuse_fn(who: Who, req: &Request) -> Option<Response> {
    if !is_safe(req.method()) && !same_origin(req.headers()) {
        return Some(page_refusal(
            StatusCode::FORBIDDEN,
            "Cross-site call refused.",
        ));
    }
    let p = match caller_of(req) {
        Auth::User(p, _) => p,
        _ => return Some(page_refusal(StatusCode::UNAUTHORIZED, "Sign in first.")),
    };
    if !who.allows(&p) {
        return Some(page_refusal(StatusCode::FORBIDDEN, who.refusal()));
    }
    None
}

/// The authenticated caller, as a handler argument.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Auth>() {
            Some(Auth::Principal(p) | Auth::User(p, _)) => Ok(Caller(p.clone())),
            Some(Auth::Invalid(e)) => Err(e.clone()),
            _ => Err(unauthorized(
                "unauthorized",
                "sign in, or send a token or API key",
            )),
        }
    }
}

/// The client's address: the TCP peer, unless the peer is a configured
/// trusted proxy, in which case the nearest untrusted address in
/// `X-Forwarded-For`. With no trusted proxy (the default) a client cannot
/// choose its own address by sending the header.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

/// See [`ClientIp`].
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for.unwrap_or("").split(',').map(str::trim).rev();
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            // A garbled entry: stop believing the header there.
            Err(_) => break,
        }
    }
    Some(peer)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let xff = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(
            client_ip(peer, xff, &state.config.trusted_proxies).map(|ip| ip.to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn principal(via: Via, scope: Scope) -> Principal {
        Principal {
            user_id: "u".into(),
            tenant_id: "t".into(),
            role: mooring_core::identity::Role::Admin,
            platform_admin: false,
            scope,
            via,
        }
    }

    /// Run one request through `require(access)` with the given caller.
    async fn through(
        access: Access,
        auth: Auth,
        method: Method,
        headers: &[(&'static str, &'static str)],
    ) -> StatusCode {
        use axum::{middleware, routing::any, Router};
        use tower::ServiceExt;
        let app = Router::new()
            .route("/x", any(|| async { "reached" }))
            .route_layer(middleware::from_fn(move |req, next| {
                require(access, req, next)
            }))
            .layer(axum::Extension(auth));
        let mut req = axum::http::Request::builder().method(method).uri("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        app.oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn require_enforces_presence_scope_and_same_origin() {
        let admin = Access::Signed {
            scope: Scope::Admin,
            who: Who::Anyone,
        };
        let read = Access::Signed {
            scope: Scope::Read,
            who: Who::Anyone,
        };
        let session = Auth::Principal(principal(Via::Session, Scope::Admin));
        let read_token = Auth::Principal(principal(Via::AccessToken, Scope::Read));
        let deploy_token = Auth::Principal(principal(Via::AccessToken, Scope::Deploy));
        assert_eq!(
            through(read, Auth::Anonymous, Method::GET, &[]).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            through(Access::Public, Auth::Anonymous, Method::POST, &[]).await,
            StatusCode::OK
        );
        let forged = Auth::Invalid(unauthorized("invalid_token", "no"));
        assert_eq!(
            through(read, forged, Method::GET, &[]).await,
            StatusCode::UNAUTHORIZED
        );
        // Scopes: read tokens read, and nothing more.
        assert_eq!(
            through(read, read_token.clone(), Method::GET, &[]).await,
            StatusCode::OK
        );
        assert_eq!(
            through(admin, read_token, Method::POST, &[]).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            through(
                Access::Signed {
                    scope: Scope::Deploy,
                    who: Who::Anyone
                },
                deploy_token.clone(),
                Method::POST,
                &[]
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            through(admin, deploy_token, Method::DELETE, &[]).await,
            StatusCode::FORBIDDEN
        );
        // CSRF: cookie mutations from another site are refused, reads are not.
        let cross = [("sec-fetch-site", "cross-site")];
        assert_eq!(
            through(admin, session.clone(), Method::POST, &cross).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            through(read, session.clone(), Method::GET, &cross).await,
            StatusCode::OK
        );
        assert_eq!(
            through(
                admin,
                session.clone(),
                Method::POST,
                &[("sec-fetch-site", "same-origin")]
            )
            .await,
            StatusCode::OK
        );
        assert_eq!(
            through(
                admin,
                session,
                Method::POST,
                &[("origin", "http://evil.test"), ("host", "m.test")]
            )
            .await,
            StatusCode::FORBIDDEN
        );
        // Tokens are not ambient credentials: no origin check for them.
        let jwt = Auth::Principal(principal(Via::Jwt, Scope::Admin));
        assert_eq!(
            through(admin, jwt, Method::POST, &cross).await,
            StatusCode::OK
        );
    }

    #[test]
    fn client_addresses_trust_only_configured_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = [ip("10.0.0.1")];
        // No trusted proxy: the header is ignored.
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[]),
            Some(ip("203.0.113.9"))
        );
        // From the proxy: the last untrusted hop is the client, not what the client claims first.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("6.6.6.6, 198.51.100.7"), &proxy),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("198.51.100.7, 10.0.0.1"), &proxy),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &proxy),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("garbage"), &proxy),
            Some(ip("10.0.0.1"))
        );
        // Not from the proxy: the header is a claim, and ignored.
        assert_eq!(
            client_ip(Some(ip("198.51.100.8")), Some("1.2.3.4"), &proxy),
            Some(ip("198.51.100.8"))
        );
    }

    #[test]
    fn same_origin_rules() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&headers(&[("sec-fetch-site", "none")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://m.test:8080"),
            ("host", "m.test:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.test"),
            ("host", "m.test:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "m.test")
        ])));
        assert!(same_origin(&headers(&[])));
    }
}
