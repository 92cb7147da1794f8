//! The admin portal's forms for accounts and credentials. Each handler
//! calls core (which authorizes), leaves a one-time message in the session
//! and redirects back (post/redirect/get), so pages work without JavaScript
//! and a new secret is shown once without ever being put in a URL.

use axum::{
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use mooring_app::server::Flash;
use mooring_core::{
    identity::{
        access_tokens::{self, NewToken},
        api_keys, Principal, Role,
    },
    users::{self, NewUser, OwnPasswordError, UserChange},
    CoreError,
};
use secrecy::SecretString;
use tower_sessions::Session;

use super::{
    auth::{Auth, ClientIp},
    error::ApiError,
    identity::start_session,
};
use crate::state::AppState;

/// The session key of the one-time message.
pub const FLASH_KEY: &str = "flash";

/// The signed-in person posting an admin form (the guard let them in).
pub struct PortalCaller(
    pub Principal,
    pub std::sync::Arc<mooring_core::identity::User>,
);

impl<S: Send + Sync> FromRequestParts<S> for PortalCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Auth>() {
            Some(Auth::User(p, u)) => Ok(PortalCaller(p.clone(), u.clone())),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

pub(super) async fn back(
    session: &Session,
    to: &str,
    result: Result<String, String>,
    secret: Option<String>,
) -> Response {
    back_field(session, to, result, secret, None).await
}

/// Like [`back`], naming the field an error is about.
pub(super) async fn back_field(
    session: &Session,
    to: &str,
    result: Result<String, String>,
    secret: Option<String>,
    field: Option<&str>,
) -> Response {
    let flash = match result {
        Ok(message) => Flash {
            kind: "ok".into(),
            message,
            secret,
            field: None,
            values: Vec::new(),
        },
        Err(message) => Flash {
            kind: "error".into(),
            message,
            secret: None,
            field: field.map(str::to_string),
            values: Vec::new(),
        },
    };
    flash_to(session, to, flash).await
}

tokio::task_local! {
    /// The database a portal request's flash goes to (set by the portal
    /// guard for the request's whole handling).
    pub(super) static FLASH_DB: mooring_core::Db;
}

/// Leave `flash` for the session's next page and go to `to`. It is kept in
/// its own row (`flashes`), not in the session record, which a concurrent
/// request of the same browser could save over.
async fn flash_to(session: &Session, to: &str, flash: Flash) -> Response {
    let db = FLASH_DB.try_with(Clone::clone).ok();
    let stored = match (db, session.id()) {
        (Some(db), Some(id)) => match serde_json::to_string(&flash) {
            Ok(json) => mooring_core::identity::session_store::put_flash(&db, &id, &json)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        // No stored session yet: the session record it is.
        _ => session
            .insert(FLASH_KEY, flash)
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = stored {
        return ApiError::internal(e).into_response();
    }
    Redirect::to(to).into_response()
}

/// A new secret for the next page (a flash's `secret`), sealed for this
/// session's flash row and the caller's tenant: the database never holds it
/// in the clear. The portal guard opens it for that page only.
fn seal_for_page(
    state: &AppState,
    session: &Session,
    p: &Principal,
    secret: &str,
) -> Result<String, Response> {
    let id = session
        .id()
        .ok_or_else(|| ApiError::internal("no session to show the secret in").into_response())?;
    mooring_core::identity::session_store::seal_shown_once(
        &state.nodes.vault,
        &id,
        &p.tenant_id,
        secret,
    )
    .map_err(|e| ApiError::internal(e).into_response())
}

/// Back to `to` with an error, keeping what the form said (but the
/// `secret_fields`) so the page fills it in again.
pub(super) async fn back_refill(
    session: &Session,
    to: &str,
    message: String,
    field: Option<&str>,
    form: &[(String, String)],
    secret_fields: &[&str],
) -> Response {
    let flash = Flash {
        kind: "error".into(),
        message,
        secret: None,
        field: field.map(str::to_string),
        values: form
            .iter()
            .filter(|(k, _)| !secret_fields.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    flash_to(session, to, flash).await
}

/// The form field a core error is about: the field core names, under the
/// form's own name for it where `renames` (core name, form name) says so.
pub(super) fn form_field(e: &CoreError, renames: &[(&str, &str)]) -> Option<String> {
    let f = e.field()?;
    Some(
        renames
            .iter()
            .find(|(core, _)| *core == f)
            .map_or(f, |(_, form)| *form)
            .to_string(),
    )
}

/// What to tell a person about a core error.
pub(super) fn say(e: CoreError) -> String {
    match e {
        CoreError::Invalid(m)
        | CoreError::Conflict(m)
        | CoreError::Forbidden(m)
        | CoreError::Unavailable(m) => capitalize(&m),
        // "is required" says little at the top of a page: name the field.
        CoreError::Field { field, message }
            if message.starts_with("is ") || message.starts_with("must ") =>
        {
            capitalize(&format!("{} {message}", field_words(&field)))
        }
        CoreError::Field { message, .. } => capitalize(&message),
        CoreError::Violation { message, .. } => capitalize(&message),
        CoreError::NotFound => "That no longer exists.".into(),
        other => {
            tracing::error!(error = %other, "admin form failed");
            "Something went wrong on our side; it has been logged.".into()
        }
    }
}

/// A field's name in words: `address.postalCode` → "postal code".
fn field_words(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let mut out = String::new();
    for c in last.chars() {
        if c == '_' {
            out.push(' ');
            continue;
        }
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str().trim_end_matches('.')),
        None => String::new(),
    }
}

pub(super) fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A form field's trimmed value, or none when it is empty.
pub(super) fn opt(f: &[(String, String)], name: &str) -> Option<String> {
    let v = field(f, name);
    (!v.trim().is_empty()).then(|| v.trim().to_string())
}

pub(super) fn field(f: &[(String, String)], name: &str) -> String {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// `POST /admin/users`.
pub async fn create_user(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let role = match field(&f, "role").as_str() {
        "admin" => Role::Admin,
        _ => Role::Staff,
    };
    let email = field(&f, "email");
    let result = users::create(
        &state.db,
        &p,
        NewUser {
            name: field(&f, "name"),
            email: email.clone(),
            role,
            status: None,
            password: SecretString::from(field(&f, "password")),
        },
        ip,
    )
    .await
    .map(|u| format!("Created the account {}.", u.email));
    let field = result
        .as_ref()
        .err()
        .and_then(|e| form_field(e, &[("roles", "role")]));
    back_field(
        &session,
        "/admin/users",
        result.map_err(say),
        None,
        field.as_deref(),
    )
    .await
}

/// `POST /admin/users/{id}/{disable|enable|end-sessions}`.
pub async fn user_action(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = match action.as_str() {
        "disable" | "enable" => {
            let status = if action == "disable" {
                "disabled"
            } else {
                "active"
            };
            users::update(
                &state.db,
                &p,
                &id,
                UserChange {
                    status: Some(status.into()),
                    ..UserChange::default()
                },
                ip,
            )
            .await
            .map(|u| format!("{} is now {status}.", u.email))
        }
        "role" => {
            let role = match field(&form(&body), "role").as_str() {
                "admin" => Some(Role::Admin),
                "staff" => Some(Role::Staff),
                _ => None,
            };
            match role {
                Some(role) => users::update(
                    &state.db,
                    &p,
                    &id,
                    UserChange {
                        role: Some(role),
                        ..UserChange::default()
                    },
                    ip,
                )
                .await
                .map(|u| format!("{} is now {}.", u.email, role.as_str())),
                None => Err(mooring_core::error::field_error(
                    "role",
                    "choose the role admin or staff",
                )),
            }
        }
        "end-sessions" => users::end_sessions_of(&state.db, &p, &id, ip)
            .await
            .map(|()| "Every session of that account has ended.".to_string()),
        _ => Err(CoreError::NotFound),
    };
    back(&session, "/admin/users", result.map_err(say), None).await
}

/// `POST /admin/tenants` (platform admins).
pub async fn create_tenant(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    body: Bytes,
) -> Response {
    let name = field(&form(&body), "name");
    let result = mooring_core::tenants::create(&state.db, &p, &name, None, ip)
        .await
        .map(|t| format!("Created the tenant “{}” ({}).", t.name, t.slug));
    let field = result.as_ref().err().and_then(|e| form_field(e, &[]));
    back_field(
        &session,
        "/admin/tenants",
        result.map_err(say),
        None,
        field.as_deref(),
    )
    .await
}

/// `POST /admin/api-keys`.
pub async fn create_api_key(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    body: Bytes,
) -> Response {
    let name = field(&form(&body), "name");
    match api_keys::create_for(&state.db, &p, &name, ip).await {
        Ok((key, secret)) => {
            let sealed = match seal_for_page(&state, &session, &p, &secret) {
                Ok(s) => s,
                Err(r) => return r,
            };
            back(
                &session,
                "/admin/api-keys",
                Ok(format!("Created the API key “{}”.", key.name)),
                Some(sealed),
            )
            .await
        }
        Err(e) => {
            let field = form_field(&e, &[]);
            back_field(
                &session,
                "/admin/api-keys",
                Err(say(e)),
                None,
                field.as_deref(),
            )
            .await
        }
    }
}

/// `POST /admin/api-keys/{id}/revoke`.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let result = api_keys::revoke_for(&state.db, &p, &id, ip)
        .await
        .map(|()| "The API key is revoked.".to_string())
        .map_err(say);
    back(&session, "/admin/api-keys", result, None).await
}

/// `POST /admin/tokens`.
pub async fn create_token(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let scopes: Vec<&str> = f
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let expires = field(&f, "expires_on");
    let parsed = NewToken::parse(
        &field(&f, "name"),
        &field(&f, "kind"),
        &scopes,
        Some(expires.as_str()),
    );
    let created = match parsed {
        Ok(new) => access_tokens::create(&state.db, &p, new, ip).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((token, secret)) => {
            let sealed = match seal_for_page(&state, &session, &p, &secret) {
                Ok(s) => s,
                Err(r) => return r,
            };
            back(
                &session,
                "/admin/tokens",
                Ok(format!("Created the token “{}”.", token.name)),
                Some(sealed),
            )
            .await
        }
        Err(e) => {
            let field = form_field(&e, &[("expires_at", "expires_on")]);
            back_field(
                &session,
                "/admin/tokens",
                Err(say(e)),
                None,
                field.as_deref(),
            )
            .await
        }
    }
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let result = access_tokens::revoke(&state.db, &p, &id, ip)
        .await
        .map(|()| "The token is revoked.".to_string())
        .map_err(say);
    back(&session, "/admin/tokens", result, None).await
}

/// `POST /admin/profile/password`: ends every session, then signs this browser in again.
pub async fn change_password(
    State(state): State<AppState>,
    PortalCaller(_, user): PortalCaller,
    ClientIp(ip): ClientIp,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let (new, confirm) = (field(&f, "password"), field(&f, "confirm"));
    if new != confirm {
        return back_field(
            &session,
            "/admin/profile",
            Err("The two new passwords differ.".into()),
            None,
            Some("confirm"),
        )
        .await;
    }
    let changed = users::change_own_password(
        &state.db,
        &user.id,
        SecretString::from(field(&f, "current")),
        SecretString::from(new),
        ip,
    )
    .await;
    match changed {
        Ok(Ok(())) => {
            if let Err(e) = start_session(&session, &user).await {
                return e.into_response();
            }
            back(
                &session,
                "/admin/profile",
                Ok("Your password is changed; other devices are signed out.".into()),
                None,
            )
            .await
        }
        Ok(Err(OwnPasswordError::WrongCurrent)) => {
            back_field(
                &session,
                "/admin/profile",
                Err("The current password is wrong.".into()),
                None,
                Some("current"),
            )
            .await
        }
        Err(e) => {
            let field = form_field(&e, &[]);
            back_field(
                &session,
                "/admin/profile",
                Err(say(e)),
                None,
                field.as_deref(),
            )
            .await
        }
    }
}

/// `POST /admin/system/check`: queue a system check and go to it.
pub async fn system_check(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
) -> Response {
    match mooring_core::jobs::system_check::request(&state.db, &p).await {
        Ok(id) => {
            back(
                &session,
                &format!("/admin/jobs/{id}"),
                Ok("System check queued.".into()),
                None,
            )
            .await
        }
        Err(e) => back(&session, "/admin/system", Err(say(e)), None).await,
    }
}

/// `POST /admin/jobs/{id}/{retry|cancel}`.
pub async fn job_action(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    use mooring_core::jobs;
    let result = match action.as_str() {
        "retry" => jobs::retry(&state.db, &p, &id)
            .await
            .map(|_| "The job is queued again.".to_string()),
        "cancel" => jobs::cancel(&state.db, &p, &id).await.map(|j| {
            if j.status == "cancelled" {
                "The job is cancelled.".to_string()
            } else {
                "The job stops at its next step.".to_string()
            }
        }),
        _ => Err(CoreError::NotFound),
    };
    back(
        &session,
        &format!("/admin/jobs/{id}"),
        result.map_err(say),
        None,
    )
    .await
}

/// `POST /admin/schedules/{id}/{run|pause|resume}`.
pub async fn schedule_action(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    use mooring_core::jobs::schedule;
    match action.as_str() {
        "run" => match schedule::run_now(&state.db, &p, &id).await {
            Ok(job) => {
                back(
                    &session,
                    &format!("/admin/jobs/{job}"),
                    Ok("The scheduled job is queued now.".into()),
                    None,
                )
                .await
            }
            Err(e) => back(&session, "/admin/schedules", Err(say(e)), None).await,
        },
        "pause" | "resume" => {
            let on = action == "resume";
            let result = schedule::set_enabled(&state.db, &p, &id, on)
                .await
                .map(|s| {
                    if on {
                        format!("{} resumed; next run {}.", s.name, s.next_run_at)
                    } else {
                        format!("{} paused.", s.name)
                    }
                })
                .map_err(say);
            back(&session, "/admin/schedules", result, None).await
        }
        _ => {
            back(
                &session,
                "/admin/schedules",
                Err(say(CoreError::NotFound)),
                None,
            )
            .await
        }
    }
}
