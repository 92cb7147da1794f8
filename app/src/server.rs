//! Server functions of the portals. Bodies compile only with `ssr`; they take
//! their state from context (see [`PortalContext`]) and call `mooring-core`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// State the server provides to pages and server functions.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct PortalContext {
    pub db: mooring_core::Db,
    pub started: std::time::Instant,
    /// Whether invoices are paid through Stripe (else by transfer).
    pub stripe: bool,
    /// What customers read on an unpaid invoice about paying by transfer
    /// (none: card only).
    pub payment_instructions: Option<String>,
    /// Node keys and SSH connections (servers pages).
    pub nodes: mooring_core::nodes::servers::Nodes,
}

/// What the dashboard shows about this installation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    pub version: String,
    pub database_backend: String,
    pub database_state: String,
    pub database_latency_ms: u64,
    pub schema_up_to_date: bool,
    pub schema_version: Option<i64>,
    pub uptime_seconds: u64,
}

/// The state of this installation, checked live.
#[server(prefix = "/_fn", endpoint = "system_status")]
pub async fn system_status() -> Result<SystemReport, ServerFnError> {
    use mooring_core::health::{check_database, DependencyState};
    let ctx = use_context::<std::sync::Arc<PortalContext>>()
        .ok_or_else(|| ServerFnError::new("portal context missing"))?;
    // Operators only: the same rule as the /admin pages.
    match current_user() {
        Some(u) if u.role == "admin" || u.role == "staff" => {}
        _ => return Err(ServerFnError::new("sign in as an operator to see this")),
    }
    let db = check_database(&ctx.db, std::time::Duration::from_secs(2)).await;
    let schema = ctx.db.migration_status().await.ok();
    Ok(SystemReport {
        version: mooring_core::VERSION.to_string(),
        database_backend: db.backend.to_string(),
        database_state: match db.state {
            DependencyState::Ok => "ok",
            DependencyState::Degraded => "degraded",
            DependencyState::Down => "down",
            DependencyState::NotConfigured => "not configured",
        }
        .to_string(),
        database_latency_ms: u64::try_from(db.latency_ms).unwrap_or(u64::MAX),
        schema_up_to_date: db.schema_up_to_date,
        schema_version: schema.and_then(|s| s.latest_applied),
        uptime_seconds: ctx.started.elapsed().as_secs(),
    })
}

/// The signed-in person, as the server puts it in the request for the pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortalUser {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `admin`, `staff` or `customer`.
    pub role: String,
    pub tenant_id: String,
    pub platform_admin: bool,
}

impl PortalUser {
    /// The caller as core authorizes it (a browser session: full scope).
    #[cfg(feature = "ssr")]
    pub fn principal(&self) -> mooring_core::identity::Principal {
        use mooring_core::identity::{Principal, Role, Scope, Via};
        Principal {
            user_id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            role: Role::parse(&self.role).unwrap_or(Role::Customer),
            platform_admin: self.platform_admin,
            scope: Scope::Admin,
            via: Via::Session,
        }
    }
}

/// A one-time message for the next page (set by a form handler, shown once).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: String,
    pub message: String,
    /// A secret to show exactly once (a new API key or token).
    pub secret: Option<String>,
    /// The form field an error is about, to show it next to that field.
    pub field: Option<String>,
    /// What the refused form said (never its secrets), to fill it again.
    #[serde(default)]
    pub values: Vec<(String, String)>,
}

/// Everything but the secret.
impl std::fmt::Debug for Flash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flash")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("field", &self.field)
            .field("values", &self.values)
            .finish()
    }
}

/// What the refused form said in field `name`, to fill it again (server
/// side; `None` when the last form was not refused or did not say).
pub fn kept(name: &str) -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        current_flash().filter(|f| f.kind == "error").and_then(|f| {
            f.values
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = name;
        None
    }
}

/// Every value the refused form gave for `name` (checkboxes).
pub fn kept_all(name: &str) -> Option<Vec<String>> {
    #[cfg(feature = "ssr")]
    {
        current_flash()
            .filter(|f| f.kind == "error" && !f.values.is_empty())
            .map(|f| {
                f.values
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = name;
        None
    }
}

/// The flash message of this request, if any (server side only).
#[cfg(feature = "ssr")]
pub fn current_flash() -> Option<Flash> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<Flash>()
        .cloned()
}

#[cfg(feature = "ssr")]
pub(crate) fn caller() -> Result<PortalUser, ServerFnError> {
    current_user().ok_or_else(|| ServerFnError::new("sign in first"))
}

/// A core error as the page shows it: what was wrong with the request
/// (a field, a conflict, not found) as core says it; an internal failure as
/// a generic sentence with a reference, its text only in the server's log.
#[cfg(feature = "ssr")]
pub(crate) fn fail(e: mooring_core::CoreError) -> ServerFnError {
    ServerFnError::new(e.public_message())
}

/// The first (and, in these admin lists, only) page: up to 200 rows.
#[cfg(feature = "ssr")]
pub(crate) fn first_page() -> Result<mooring_core::paging::Page, ServerFnError> {
    mooring_core::paging::PageQuery {
        page: Some(1),
        page_size: Some(mooring_core::paging::MAX_SIZE),
    }
    .check()
    .map_err(fail)
}

#[cfg(feature = "ssr")]
pub(crate) fn db() -> Result<mooring_core::Db, ServerFnError> {
    use_context::<std::sync::Arc<PortalContext>>()
        .map(|c| c.db.clone())
        .ok_or_else(|| ServerFnError::new("portal context missing"))
}

/// One row of the users table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub created_at: String,
}

/// The accounts the signed-in operator may see.
#[server(prefix = "/_fn", endpoint = "admin_users")]
pub async fn admin_users() -> Result<Vec<UserRow>, ServerFnError> {
    let me = caller()?;
    let page = first_page()?;
    let (users, _) = mooring_core::users::list(&db()?, &me.principal(), page)
        .await
        .map_err(fail)?;
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            id: u.id,
            name: u.name,
            email: u.email,
            role: u.roles.into_iter().next().unwrap_or_default(),
            status: u.status,
            created_at: u.created_at,
        })
        .collect())
}

/// One row of a credentials table (API keys, access tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CredentialRow {
    pub id: String,
    pub name: String,
    pub detail: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// The tenant's API keys (tenant admins).
#[server(prefix = "/_fn", endpoint = "admin_api_keys")]
pub async fn admin_api_keys() -> Result<Vec<CredentialRow>, ServerFnError> {
    let me = caller()?;
    let keys = mooring_core::identity::api_keys::list_for(&db()?, &me.principal())
        .await
        .map_err(fail)?;
    Ok(keys
        .into_iter()
        .map(|k| CredentialRow {
            id: k.id,
            name: k.name,
            detail: "X-API-Key".into(),
            created_at: k.created_at,
            expires_at: None,
            last_used_at: k.last_used_at,
        })
        .collect())
}

/// The signed-in person's access tokens (and, for admins, the tenant's service tokens).
#[server(prefix = "/_fn", endpoint = "my_tokens")]
pub async fn my_tokens() -> Result<Vec<CredentialRow>, ServerFnError> {
    let me = caller()?;
    let tokens = mooring_core::identity::access_tokens::list(&db()?, &me.principal())
        .await
        .map_err(fail)?;
    Ok(tokens
        .into_iter()
        .map(|t| CredentialRow {
            id: t.id,
            name: t.name,
            detail: format!(
                "{} · {}",
                match t.kind {
                    mooring_core::identity::access_tokens::Kind::Personal => "personal",
                    mooring_core::identity::access_tokens::Kind::Service => "service",
                },
                t.scopes.join(", ")
            ),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        })
        .collect())
}

/// Who is signed in on this request (server side only).
#[cfg(feature = "ssr")]
pub fn current_user() -> Option<PortalUser> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<PortalUser>()
        .cloned()
}

/// One row of the tenants table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub created_at: String,
}

/// Every tenant (platform admins).
#[server(prefix = "/_fn", endpoint = "admin_tenants")]
pub async fn admin_tenants() -> Result<Vec<TenantRow>, ServerFnError> {
    let me = caller()?;
    let page = first_page()?;
    let (tenants, _) = mooring_core::tenants::list(&db()?, &me.principal(), page)
        .await
        .map_err(fail)?;
    Ok(tenants
        .into_iter()
        .map(|t| TenantRow {
            id: t.id,
            name: t.name,
            slug: t.slug,
            status: t.status,
            created_at: t.created_at,
        })
        .collect())
}

/// A job as the admin pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub target: Option<String>,
    pub status: String,
    pub progress: i64,
    pub progress_label: Option<String>,
    pub attempt: i64,
    pub max_attempts: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[cfg(feature = "ssr")]
pub(crate) fn job_row(j: mooring_core::jobs::Job) -> JobRow {
    JobRow {
        target: j
            .target_type
            .zip(j.target_id)
            .map(|(t, i)| format!("{t} {i}")),
        id: j.id,
        kind: j.kind,
        status: j.status,
        progress: j.progress,
        progress_label: j.progress_label,
        attempt: j.attempt,
        max_attempts: j.max_attempts,
        error_code: j.error_code,
        error_message: j.error_message,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

/// The tenant's latest jobs, optionally of one status.
#[server(prefix = "/_fn", endpoint = "admin_jobs")]
pub async fn admin_jobs(status: Option<String>) -> Result<Vec<JobRow>, ServerFnError> {
    let me = caller()?;
    let filter = mooring_core::jobs::JobFilter {
        status: status.filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let (jobs, _) = mooring_core::jobs::list(&db()?, &me.principal(), &filter, first_page()?)
        .await
        .map_err(fail)?;
    Ok(jobs.into_iter().map(job_row).collect())
}

/// One job with its log so far.
#[server(prefix = "/_fn", endpoint = "admin_job")]
pub async fn admin_job(id: String) -> Result<(JobRow, Vec<(i64, String, String)>), ServerFnError> {
    let me = caller()?;
    let db = db()?;
    let job = mooring_core::jobs::get(&db, &me.principal(), &id)
        .await
        .map_err(fail)?;
    let log = mooring_core::jobs::log_lines(&db, &job.id, 0)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|l| (l.seq, l.stream, l.line))
        .collect();
    Ok((job_row(job), log))
}

/// The job counters of the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobCounts {
    pub running: i64,
    pub queued: i64,
    pub failed_24h: i64,
}

#[server(prefix = "/_fn", endpoint = "job_counters")]
pub async fn job_counters() -> Result<JobCounts, ServerFnError> {
    let me = caller()?;
    let c = mooring_core::jobs::counters(&db()?, &me.principal())
        .await
        .map_err(fail)?;
    Ok(JobCounts {
        running: c.running,
        queued: c.queued,
        failed_24h: c.failed_24h,
    })
}

/// One row of the audit log page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub resource: Option<String>,
    pub ip: Option<String>,
    pub metadata: String,
}

/// The latest audit events, optionally of one action or action prefix (`auth.`).
#[server(prefix = "/_fn", endpoint = "admin_audit")]
pub async fn admin_audit(action: Option<String>) -> Result<Vec<AuditRow>, ServerFnError> {
    let me = caller()?;
    let filter = mooring_core::audit::AuditFilter {
        action: action.filter(|a| !a.is_empty()),
        ..Default::default()
    };
    let (events, _) = mooring_core::audit::list(&db()?, &me.principal(), &filter, first_page()?)
        .await
        .map_err(fail)?;
    Ok(events
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            at: e.created_at,
            action: e.action,
            actor_id: e.actor_id,
            resource: e
                .resource_type
                .zip(e.resource_id)
                .map(|(t, i)| format!("{t} {i}")),
            ip: e.ip,
            metadata: e.metadata,
        })
        .collect())
}

/// One recurring job on the schedules page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRow {
    pub id: String,
    pub name: String,
    pub cron: String,
    /// The expression in words.
    pub when: String,
    pub kind: String,
    pub enabled: bool,
    pub next_run_at: String,
    pub last_run_at: Option<String>,
    pub last_job_id: Option<String>,
}

/// The schedules the caller's tenant runs.
#[server(prefix = "/_fn", endpoint = "admin_schedules")]
pub async fn admin_schedules() -> Result<Vec<ScheduleRow>, ServerFnError> {
    let me = caller()?;
    let rows = mooring_core::jobs::schedule::list(&db()?, &me.principal())
        .await
        .map_err(fail)?;
    Ok(rows
        .into_iter()
        .map(|s| ScheduleRow {
            when: s.describe(),
            id: s.id,
            name: s.name,
            cron: s.cron,
            kind: s.kind,
            enabled: s.enabled,
            next_run_at: s.next_run_at,
            last_run_at: s.last_run_at,
            last_job_id: s.last_job_id,
        })
        .collect())
}

/// One system event (a failed job, a requeued one, a node gone offline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub at: String,
    pub source: String,
    pub level: String,
    pub kind: String,
    pub message: String,
    pub job_id: Option<String>,
}

/// The latest system events, optionally of one level.
#[server(prefix = "/_fn", endpoint = "system_events")]
pub async fn system_events(level: Option<String>) -> Result<Vec<EventRow>, ServerFnError> {
    let me = caller()?;
    let filter = mooring_core::events::EventFilter {
        level: level.filter(|l| !l.is_empty()),
        ..Default::default()
    };
    let (events, _) = mooring_core::events::list(&db()?, &me.principal(), &filter, first_page()?)
        .await
        .map_err(fail)?;
    Ok(events
        .into_iter()
        .map(|e| EventRow {
            at: e.created_at,
            source: e.source,
            level: e.level,
            kind: e.kind,
            message: e.message,
            job_id: e.job_id,
        })
        .collect())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use mooring_core::CoreError;

    #[test]
    fn internal_errors_reach_the_browser_without_their_text() {
        let e = super::fail(CoreError::Internal(
            "database error: no such table: users".into(),
        ));
        let shown = e.to_string();
        assert!(!shown.contains("database"), "{shown}");
        assert!(!shown.contains("users"), "{shown}");
        assert!(shown.contains("something went wrong"), "{shown}");
        assert!(shown.contains("(ref "), "{shown}");
    }

    #[test]
    fn request_errors_reach_the_browser_as_core_says_them() {
        let shown =
            super::fail(mooring_core::error::field_error("name", "is required")).to_string();
        assert!(shown.contains("name: is required"), "{shown}");
        let shown =
            super::fail(CoreError::Conflict("the job is already running".into())).to_string();
        assert!(shown.contains("the job is already running"), "{shown}");
    }
}
