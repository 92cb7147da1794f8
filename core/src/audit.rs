//! The audit trail: every mutation by anyone, append-only and hash-chained.
//!
//! Each event stores the hash of the one before it (`prev_hash`) and its own
//! hash over its fields and that link, so editing or deleting any row breaks
//! the chain from there on ([`verify`] finds where). Sequence numbers are
//! unique: two writers racing for the same place retry, so the chain never forks.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{clock, CoreError, CoreResult, Db};

/// The hash the first event links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One thing that happened, before it is written.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub metadata: Value,
    pub ip: Option<String>,
}

impl NewEvent {
    pub fn new(action: impl Into<String>) -> NewEvent {
        NewEvent {
            action: action.into(),
            metadata: Value::Object(Default::default()),
            ..NewEvent::default()
        }
    }

    pub fn tenant(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// Who acted; an empty id (an API key's principal has no user) is no actor.
    pub fn actor(mut self, id: Option<String>) -> Self {
        self.actor_id = id.filter(|i| !i.is_empty());
        self
    }

    pub fn resource(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.resource_type = Some(kind.into());
        self.resource_id = Some(id.into());
        self
    }

    pub fn meta(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub seq: i64,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub metadata: String,
    pub ip: Option<String>,
    pub created_at: String,
    pub prev_hash: String,
    pub hash: String,
}

fn event_hash(e: &Event) -> String {
    let mut h = Sha256::new();
    let parts: [&str; 11] = [
        &e.id,
        &e.seq.to_string(),
        e.tenant_id.as_deref().unwrap_or(""),
        e.actor_id.as_deref().unwrap_or(""),
        &e.action,
        e.resource_type.as_deref().unwrap_or(""),
        e.resource_id.as_deref().unwrap_or(""),
        &e.metadata,
        e.ip.as_deref().unwrap_or(""),
        &e.created_at,
        &e.prev_hash,
    ];
    for p in parts {
        // Length-prefixed, so no two field lists hash alike.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Append an event to the trail in a transaction of its own. An event that
/// records a change belongs in that change's transaction: use [`record_in`].
pub async fn record(db: &Db, ev: NewEvent) -> CoreResult<Event> {
    let mut tx = db.begin_write().await?;
    let e = record_in(&mut tx, ev).await?;
    tx.commit().await?;
    Ok(e)
}

/// Append an event to the trail on `conn`, inside the transaction of the
/// change it records, so the two commit together or not at all.
///
/// Appends are serialized: on PostgreSQL by a transaction-scoped advisory
/// lock, held until `conn`'s transaction ends; on SQLite by the write lock a
/// writing transaction holds anyway (open it with [`Db::begin_write`]).
/// Record events last in a transaction, so it holds the lock briefly.
pub async fn record_in(conn: &mut sqlx::AnyConnection, ev: NewEvent) -> CoreResult<Event> {
    let metadata = serde_json::to_string(&ev.metadata)
        .map_err(|e| CoreError::Internal(format!("audit metadata: {e}")))?;
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        // (The lock function returns `void`, which the `Any` driver cannot read.)
        sqlx::query("SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l")
            .bind(AUDIT_LOCK)
            .fetch_one(&mut *conn)
            .await?;
    }
    let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(r) => (
            r.try_get::<i64, _>("seq")? + 1,
            r.try_get::<String, _>("hash")?,
        ),
        None => (1, GENESIS.to_string()),
    };
    let mut e = Event {
        id: uuid::Uuid::new_v4().to_string(),
        seq,
        tenant_id: ev.tenant_id,
        actor_id: ev.actor_id,
        action: ev.action,
        resource_type: ev.resource_type,
        resource_id: ev.resource_id,
        metadata,
        ip: ev.ip,
        created_at: clock::now(),
        prev_hash,
        hash: String::new(),
    };
    e.hash = event_hash(&e);
    sqlx::query(
        "INSERT INTO audit_events (id, seq, tenant_id, actor_id, action, resource_type, \
         resource_id, metadata, ip, created_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&e.id)
    .bind(e.seq)
    .bind(&e.tenant_id)
    .bind(&e.actor_id)
    .bind(&e.action)
    .bind(&e.resource_type)
    .bind(&e.resource_id)
    .bind(&e.metadata)
    .bind(&e.ip)
    .bind(&e.created_at)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut *conn)
    .await?;
    Ok(e)
}

/// The PostgreSQL advisory lock key that serializes appends to the trail.
const AUDIT_LOCK: i64 = 0x6d6f_6f72_6175_6474;

fn row_to_event(r: &sqlx::any::AnyRow) -> CoreResult<Event> {
    Ok(Event {
        id: r.try_get("id")?,
        seq: r.try_get("seq")?,
        tenant_id: r.try_get("tenant_id")?,
        actor_id: r.try_get("actor_id")?,
        action: r.try_get("action")?,
        resource_type: r.try_get("resource_type")?,
        resource_id: r.try_get("resource_id")?,
        metadata: r.try_get("metadata")?,
        ip: r.try_get("ip")?,
        created_at: r.try_get("created_at")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Events of one action, oldest first (for tests and the audit issue's API).
pub async fn by_action(db: &Db, action: &str) -> CoreResult<Vec<Event>> {
    let rows = sqlx::query("SELECT * FROM audit_events WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(row_to_event).collect()
}

/// Where the chain breaks, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { events: i64 },
    Broken { seq: i64, reason: String },
}

/// Walk the whole chain and report the first event that does not fit.
pub async fn verify(db: &Db) -> CoreResult<Verdict> {
    let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
        .fetch_all(db.pool())
        .await?;
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    for r in &rows {
        let e = row_to_event(r)?;
        if e.seq != expected_seq {
            return Ok(Verdict::Broken {
                seq: expected_seq,
                reason: format!("event {expected_seq} is missing"),
            });
        }
        if e.prev_hash != prev {
            return Ok(Verdict::Broken {
                seq: e.seq,
                reason: "does not link to the event before it".into(),
            });
        }
        if event_hash(&e) != e.hash {
            return Ok(Verdict::Broken {
                seq: e.seq,
                reason: "its contents were changed".into(),
            });
        }
        prev = e.hash;
        expected_seq += 1;
    }
    Ok(Verdict::Intact {
        events: expected_seq - 1,
    })
}

/// Filters of the audit log API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    /// The action, exactly (`auth.login`) or by prefix (`auth.`).
    #[serde(rename = "type")]
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// RFC 3339; events at or after it.
    pub since: Option<String>,
}

/// Audit events `p` may read (tenant admins: their tenant's; platform admins:
/// all), newest first.
pub async fn list(
    db: &Db,
    p: &crate::identity::Principal,
    f: &AuditFilter,
    page: crate::paging::Page,
) -> CoreResult<(Vec<Event>, i64)> {
    p.require_admin("the audit log is for admins")?;
    let since = match f.since.as_deref() {
        None => String::new(),
        Some(s) => clock::format(
            clock::parse(s)
                .ok_or_else(|| crate::error::field_error("since", "must be an RFC 3339 time"))?,
        ),
    };
    let action = f.action.clone().unwrap_or_default();
    let action_like = if action.ends_with('.') {
        format!("{action}%")
    } else {
        action.clone()
    };
    let cond = "(tenant_id = $1 OR $2 = 1) AND ($3 = '' OR actor_id = $3) AND ($4 = '' OR action LIKE $4) \
                AND ($5 = '' OR resource_type = $5) AND ($6 = '' OR resource_id = $6) AND ($7 = '' OR created_at >= $7)";
    let select = format!(
        "SELECT *, {} FROM audit_events WHERE {cond} ORDER BY seq DESC LIMIT $8 OFFSET $9",
        crate::paging::TOTAL
    );
    let count = format!("SELECT COUNT(*) FROM audit_events WHERE {cond}");
    let args = (
        p.tenant_id.clone(),
        i64::from(p.platform_admin),
        f.actor_id.clone().unwrap_or_default(),
        action_like,
        f.resource_type.clone().unwrap_or_default(),
        f.resource_id.clone().unwrap_or_default(),
        since,
    );
    let rows = sqlx::query(&select)
        .bind(&args.0)
        .bind(args.1)
        .bind(&args.2)
        .bind(&args.3)
        .bind(&args.4)
        .bind(&args.5)
        .bind(&args.6)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(db.pool())
        .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar(&count)
            .bind(&args.0)
            .bind(args.1)
            .bind(&args.2)
            .bind(&args.3)
            .bind(&args.4)
            .bind(&args.5)
            .bind(&args.6)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_event).collect::<CoreResult<_>>()?,
        total,
    ))
}
