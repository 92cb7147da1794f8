//! Point-in-time counters and host metrics, read from the database: the wp
//! surface's `/api/metrics` and mpanel's `/api/system/health`.

use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::{clock, identity::Principal, jobs, CoreResult, Db};

/// wp's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WpMetrics {
    pub jobs_running: i64,
    pub jobs_queued: i64,
    /// Servers that answered their last heartbeat (online or degraded).
    pub nodes_active: i64,
    pub sites_total: i64,
}

pub async fn wp_metrics(db: &Db, p: &Principal) -> CoreResult<WpMetrics> {
    let jobs = jobs::counters(db, p).await?;
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM servers WHERE (tenant_id = $1 OR $2 = 1) AND status IN ('online', 'degraded')) AS nodes, \
           (SELECT COUNT(*) FROM sites WHERE (tenant_id = $1 OR $2 = 1)) AS sites",
    )
    .bind(&p.tenant_id)
    .bind(i64::from(p.platform_admin))
    .fetch_one(db.pool())
    .await?;
    Ok(WpMetrics {
        jobs_running: jobs.running,
        jobs_queued: jobs.queued,
        nodes_active: row.try_get("nodes")?,
        sites_total: row.try_get("sites")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerCounts {
    pub total: i64,
    pub online: i64,
    pub degraded: i64,
    pub offline: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    #[serde(rename = "failedLast24h")]
    pub failed_last_24h: i64,
}

/// The last probe of one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostMetrics {
    pub server_id: String,
    pub name: String,
    pub status: String,
    pub last_heartbeat_at: Option<String>,
    pub cpu_percent: Option<f64>,
    pub load1: Option<f64>,
    pub memory_used_mb: Option<i64>,
    pub memory_total_mb: Option<i64>,
    pub disk_used_gb: Option<f64>,
    pub disk_total_gb: Option<f64>,
    pub uptime_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemHealth {
    pub generated_at: String,
    pub servers: ServerCounts,
    pub jobs: JobCounts,
    pub hosts: Vec<HostMetrics>,
}

/// Servers by status, the queue, and every server's last probe (operators).
pub async fn health(db: &Db, p: &Principal) -> CoreResult<SystemHealth> {
    let jobs = jobs::counters(db, p).await?;
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.status, s.last_heartbeat_at, \
           pr.cpu_percent, pr.load1, pr.memory_used_mb, pr.memory_total_mb, \
           pr.disk_used_gb, pr.disk_total_gb, pr.uptime_seconds \
         FROM servers s LEFT JOIN server_probes pr ON pr.server_id = s.id \
           AND pr.at = (SELECT MAX(q.at) FROM server_probes q WHERE q.server_id = s.id AND q.reachable = 1) \
         WHERE (s.tenant_id = $1 OR $2 = 1) ORDER BY s.name, s.id",
    )
    .bind(&p.tenant_id)
    .bind(i64::from(p.platform_admin))
    .fetch_all(db.pool())
    .await?;
    let hosts = rows
        .iter()
        .map(|r| {
            Ok(HostMetrics {
                server_id: r.try_get("id")?,
                name: r.try_get("name")?,
                status: r.try_get("status")?,
                last_heartbeat_at: r.try_get("last_heartbeat_at")?,
                cpu_percent: r.try_get("cpu_percent")?,
                load1: r.try_get("load1")?,
                memory_used_mb: r.try_get("memory_used_mb")?,
                memory_total_mb: r.try_get("memory_total_mb")?,
                disk_used_gb: r.try_get("disk_used_gb")?,
                disk_total_gb: r.try_get("disk_total_gb")?,
                uptime_seconds: r.try_get("uptime_seconds")?,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    let count = |s: &str| hosts.iter().filter(|h| h.status == s).count() as i64;
    Ok(SystemHealth {
        generated_at: clock::format(OffsetDateTime::now_utc()),
        servers: ServerCounts {
            total: hosts.len() as i64,
            online: count("online"),
            degraded: count("degraded"),
            offline: count("offline"),
        },
        jobs: JobCounts {
            queued: jobs.queued,
            running: jobs.running,
            failed_last_24h: jobs.failed_24h,
        },
        hosts,
    })
}
