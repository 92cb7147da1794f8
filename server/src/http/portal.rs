//! The portals' own HTTP: sign-in and sign-out forms, and the guard that keeps
//! `/admin` for operators and `/portal` for customers.
//!
//! Plain HTML forms and redirects (post/redirect/get), so signing in works
//! with JavaScript off. Pages behind the guard are never cached, so after
//! signing out the back button cannot show them again.

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use mooring_core::identity::{
    session_store::{open_shown_once, take_flash},
    Role,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    admin_forms::{FLASH_DB, FLASH_KEY},
    auth::{same_origin, Auth, ClientIp},
    identity::{
        authenticate, confirm_reset, end_session, spawn_reset_request, start_session, LoginBody,
    },
};
use crate::state::AppState;

/// Where a role lands after signing in.
fn home_of(role: Role) -> &'static str {
    match role {
        Role::Admin | Role::Staff => "/admin",
        Role::Customer => "/portal",
    }
}

fn area_allows(path: &str, role: Role) -> bool {
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    match role {
        Role::Admin | Role::Staff => !under("/portal"),
        Role::Customer => !under("/admin"),
    }
}

fn guarded(path: &str) -> bool {
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    under("/admin") || under("/portal")
}

/// A local path to go back to after signing in, never another site.
fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\')).then_some(next)
}

fn login_url(params: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(params).unwrap_or_default();
    if q.is_empty() {
        "/login".into()
    } else {
        format!("/login?{q}")
    }
}

/// Middleware: keep the portal areas for their people; no caching of them.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !guarded(&path) {
        return next.run(req).await;
    }
    // Forms: the route table decides who may post them (and refuses
    // cross-site posts); their one-time messages go to the database.
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = FLASH_DB.scope(state.db.clone(), next.run(req)).await;
        no_store(&mut resp);
        return resp;
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let mut req = req;
    let mut resp = match req.extensions().get::<Auth>() {
        Some(Auth::User(p, _)) if area_allows(&path, p.role) => {
            let tenant = p.tenant_id.clone();
            if let Some(session) = req.extensions().get::<Session>().cloned() {
                // The one-time message a form left for this page.
                let kept = match session.id() {
                    Some(id) => take_flash(&state.db, &id)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|j| serde_json::from_str::<mooring_app::server::Flash>(&j).ok()),
                    None => None,
                };
                let legacy = session
                    .remove::<mooring_app::server::Flash>(FLASH_KEY)
                    .await
                    .ok()
                    .flatten();
                if let Some(mut flash) = kept.or(legacy) {
                    // A new secret comes sealed for this session and tenant;
                    // only this request's memory holds it in the clear.
                    flash.secret = match (flash.secret.take(), session.id()) {
                        (Some(sealed), Some(id)) => open_shown_once(
                            &state.nodes.vault,
                            &id,
                            &tenant,
                            &sealed,
                        )
                        .map_err(|e| tracing::warn!(error = %e, "a shown-once secret did not open"))
                        .ok(),
                        _ => None,
                    };
                    req.extensions_mut().insert(flash);
                }
            }
            FLASH_DB.scope(state.db.clone(), next.run(req)).await
        }
        Some(Auth::User(p, _)) => Redirect::to(home_of(p.role)).into_response(),
        Some(Auth::Invalid(e)) if e.code == "session_expired" => Redirect::to(&login_url(&[
            ("error", "session_expired"),
            ("next", &target),
        ]))
        .into_response(),
        _ => Redirect::to(&login_url(&[("next", &target)])).into_response(),
    };
    no_store(&mut resp);
    resp
}

/// Pages and answers behind the guard are never cached.
fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

/// `POST /login` (HTML form).
pub async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let next = safe_next(&form.next).unwrap_or("").to_string();
    let back = |error: &str, retry: Option<String>| {
        let mut p = vec![
            ("error", error.to_string()),
            ("email", form.email.trim().to_string()),
        ];
        if !next.is_empty() {
            p.push(("next", next.clone()));
        }
        if let Some(r) = retry {
            p.push(("retry_after", r));
        }
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Redirect::to(&login_url(&p)).into_response()
    };
    // Login CSRF: a sign-in must come from our own page.
    if !same_origin(&headers) {
        return back("forbidden_origin", None);
    }
    if form.email.trim().is_empty() {
        return back("email_required", None);
    }
    if form.password.is_empty() {
        return back("password_required", None);
    }
    let body = LoginBody::new(form.email.clone(), form.password.clone());
    let user = match authenticate(&state, ip, body).await {
        Ok(u) => u,
        Err(e) => return back(&e.code, e.retry_after.map(|s| s.to_string())),
    };
    if let Err(e) = start_session(&session, &user).await {
        return e.into_response();
    }
    let dest = if !next.is_empty() && area_allows(&next, user.role) && guarded(&next) {
        next
    } else {
        home_of(user.role).to_string()
    };
    Redirect::to(&dest).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

/// `POST /forgot-password` (HTML form): same answer for every address.
pub async fn forgot_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ForgotForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !same_origin(&headers) {
        return Redirect::to("/forgot-password?error=forbidden_origin").into_response();
    }
    if form.email.trim().is_empty() {
        return Redirect::to("/forgot-password?error=email_required").into_response();
    }
    spawn_reset_request(&state, form.email, ip);
    Redirect::to("/forgot-password?sent=1").into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    token: String,
    password: String,
    confirm: String,
}

/// `POST /reset-password` (HTML form).
pub async fn reset_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ResetForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let back = |error: &str| {
        let q = serde_urlencoded::to_string([("token", form.token.as_str()), ("error", error)])
            .unwrap_or_default();
        Redirect::to(&format!("/reset-password?{q}")).into_response()
    };
    if !same_origin(&headers) {
        return back("forbidden_origin");
    }
    if form.password != form.confirm {
        return back("mismatch");
    }
    match confirm_reset(
        &state,
        &form.token,
        secrecy::SecretString::from(form.password.clone()),
        ip,
    )
    .await
    {
        Ok(()) => Redirect::to("/login?reset=1").into_response(),
        Err(e) if e.code == "validation_failed" => back("weak_password"),
        Err(e) if e.code == "invalid_reset_token" => back("invalid_token"),
        Err(e) => e.into_response(),
    }
}

/// `POST /logout` (HTML form).
pub async fn logout_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Response {
    if let Err(e) = end_session(&state, &session, ip).await {
        return e.into_response();
    }
    Redirect::to("/login?signed_out=1").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_and_next() {
        assert!(area_allows("/admin/system", Role::Staff));
        assert!(!area_allows("/admin", Role::Customer));
        assert!(!area_allows("/portal", Role::Admin));
        assert!(area_allows("/portal/x", Role::Customer));
        assert!(
            area_allows("/administrator-guide", Role::Customer),
            "only the /admin tree"
        );
        assert_eq!(safe_next("/admin/system"), Some("/admin/system"));
        assert_eq!(safe_next("//evil.test/x"), None);
        assert_eq!(safe_next("https://evil.test"), None);
        assert_eq!(safe_next("/\\evil.test"), None);
    }
}
