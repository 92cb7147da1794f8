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
    let ctx = use_context::<PortalContext>()
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
}

/// Who is signed in on this request (server side only).
#[cfg(feature = "ssr")]
pub fn current_user() -> Option<PortalUser> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<PortalUser>()
        .cloned()
}
