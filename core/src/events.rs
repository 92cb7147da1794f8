//! System events: what the queue, the scheduler, provisioning and nodes want
//! an operator to notice (a job failed, a worker died, a node went offline).
//! The audit trail records who changed what; these record what happened.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::paging::TOTAL;
use crate::{clock, identity::Principal, paging::Page, CoreResult, Db};

pub const SOURCES: [&str; 4] = ["queue", "provisioning", "scheduler", "node"];
pub const LEVELS: [&str; 3] = ["info", "warning", "error"];

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub tenant_id: &'a str,
    pub source: &'static str,
    pub level: &'static str,
    pub kind: &'a str,
    pub message: String,
    pub job_id: Option<&'a str>,
    pub server_id: Option<&'a str>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    pub tenant_id: String,
    pub source: String,
    pub level: String,
    pub kind: String,
    pub message: String,
    pub job_id: Option<String>,
    pub server_id: Option<String>,
    pub created_at: String,
}

/// Record an event. Failing to record one is logged, never fatal to the work
/// that caused it.
pub async fn record(db: &Db, e: NewEvent<'_>) {
    let res = sqlx::query(
        "INSERT INTO system_events (id, tenant_id, source, level, kind, message, job_id, server_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(e.tenant_id)
    .bind(e.source)
    .bind(e.level)
    .bind(e.kind)
    .bind(&e.message)
    .bind(e.job_id)
    .bind(e.server_id)
    .bind(clock::now())
    .execute(db.pool())
    .await;
    if let Err(err) = res {
        tracing::warn!(error = %err, kind = e.kind, "could not record a system event");
    }
}

/// Filters of the events list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventFilter {
    pub source: Option<String>,
    pub level: Option<String>,
    pub since: Option<String>,
}

/// Events newest first, with the total matching; operators of the tenant
/// (platform admins see every tenant's).
pub async fn list(
    db: &Db,
    p: &Principal,
    f: &EventFilter,
    page: Page,
) -> CoreResult<(Vec<Event>, i64)> {
    p.require_operator("system events are for operators")?;
    let source = f.source.clone().unwrap_or_default();
    if !source.is_empty() && !SOURCES.contains(&source.as_str()) {
        return Err(crate::error::field_error(
            "source",
            format!("must be one of {}", SOURCES.join(", ")),
        ));
    }
    let level = f.level.clone().unwrap_or_default();
    if !level.is_empty() && !LEVELS.contains(&level.as_str()) {
        return Err(crate::error::field_error(
            "level",
            format!("must be one of {}", LEVELS.join(", ")),
        ));
    }
    let since = match f.since.as_deref().filter(|s| !s.is_empty()) {
        None => String::new(),
        Some(s) => clock::format(
            clock::parse(s)
                .ok_or_else(|| crate::error::field_error("since", "must be an RFC 3339 time"))?,
        ),
    };
    let cond =
        "(tenant_id = $1 OR $2 = 1) AND ($3 = '' OR source = $3) AND ($4 = '' OR level = $4) \
                AND ($5 = '' OR created_at >= $5)";
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM system_events WHERE {cond} ORDER BY created_at DESC, id LIMIT $6 OFFSET $7"
    ))
    .bind(&p.tenant_id)
    .bind(i64::from(p.platform_admin))
    .bind(&source)
    .bind(&level)
    .bind(&since)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM system_events WHERE {cond}"))
            .bind(&p.tenant_id)
            .bind(i64::from(p.platform_admin))
            .bind(&source)
            .bind(&level)
            .bind(&since)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Event {
                id: r.try_get("id")?,
                tenant_id: r.try_get("tenant_id")?,
                source: r.try_get("source")?,
                level: r.try_get("level")?,
                kind: r.try_get("kind")?,
                message: r.try_get("message")?,
                job_id: r.try_get("job_id")?,
                server_id: r.try_get("server_id")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok((items, total))
}
