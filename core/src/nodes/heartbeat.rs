//! The heartbeat: probe every server over SSH, or a Proxmox node through its
//! API (uptime, load, memory, disk),
//! keep the probe, and set the server's status: `online`, `degraded` (disk
//! or memory nearly full), or `offline` (unreachable, or a host key that
//! changed). A change of status is a system event (the dashboard shows
//! them).

use std::time::Duration;

use async_trait::async_trait;

use super::{
    servers::{Nodes, Server},
    ssh::{Cmd, NodeError},
};
use crate::{
    clock, events,
    jobs::{JobContext, JobError, JobHandler},
    CoreResult,
};

pub const KIND: &str = "nodes.heartbeat";

/// What one probe read.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub uptime_seconds: i64,
    pub load1: f64,
    pub memory_total_mb: i64,
    pub memory_used_mb: i64,
    pub disk_total_gb: f64,
    pub disk_used_gb: f64,
}

impl Probe {
    /// `degraded` when the root disk is over 90 % full or under 5 % of
    /// memory is available; else `online`.
    pub fn status(&self) -> &'static str {
        let disk_full = self.disk_total_gb > 0.0 && self.disk_used_gb / self.disk_total_gb > 0.9;
        let memory_short = self.memory_total_mb > 0
            && (self.memory_total_mb - self.memory_used_mb) * 20 < self.memory_total_mb;
        if disk_full || memory_short {
            "degraded"
        } else {
            "online"
        }
    }
}

/// The probe command: read-only, the same on every Linux node.
pub fn probe_cmd() -> Cmd {
    Cmd::new("cat")
        .args(["/proc/uptime", "/proc/loadavg", "/proc/meminfo"])
        .and(Cmd::new("df").args(["-Pk", "/"]))
}

/// Read the probe command's output.
pub fn parse(out: &str) -> Option<Probe> {
    let mut lines = out.lines();
    let uptime: f64 = lines.next()?.split_whitespace().next()?.parse().ok()?;
    let load1: f64 = lines.next()?.split_whitespace().next()?.parse().ok()?;
    let (mut total_kb, mut avail_kb) = (None, None);
    let mut disk = None;
    for l in lines {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("MemTotal:") => total_kb = w.next().and_then(|v| v.parse::<i64>().ok()),
            Some("MemAvailable:") => avail_kb = w.next().and_then(|v| v.parse::<i64>().ok()),
            _ if l.ends_with(" /") => {
                // Filesystem 1024-blocks Used Available Capacity Mounted-on
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() >= 6 {
                    if let (Ok(t), Ok(u)) = (f[1].parse::<f64>(), f[2].parse::<f64>()) {
                        disk = Some((t, u));
                    }
                }
            }
            _ => {}
        }
    }
    let (total_kb, avail_kb) = (total_kb?, avail_kb.unwrap_or(0));
    let (disk_t, disk_u) = disk?;
    let gb = |kb: f64| (kb / 1024.0 / 1024.0 * 100.0).round() / 100.0;
    Some(Probe {
        uptime_seconds: uptime as i64,
        load1,
        memory_total_mb: total_kb / 1024,
        memory_used_mb: (total_kb - avail_kb) / 1024,
        disk_total_gb: gb(disk_t),
        disk_used_gb: gb(disk_u),
    })
}

/// "3 d 4 h", "5 h 2 min", "40 s".
pub fn uptime_words(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Probe `s` now: keep the probe, set status and heartbeat time, report a
/// change of status.
pub async fn probe(nodes: &Nodes, s: &Server) -> Result<Probe, NodeError> {
    let result = match s.proxmox(&nodes.vault) {
        // A Proxmox node answers through its API.
        Ok(Some(pve)) => pve.probe().await,
        Err(e) => Err(e),
        Ok(None) => nodes
            .check(
                s,
                &probe_cmd(),
                None,
                Duration::from_secs(20),
                &mut |_, _| {},
            )
            .await
            .and_then(|out| {
                parse(&out.stdout).ok_or_else(|| NodeError::Exit {
                    code: 0,
                    stderr_tail: "the probe's output was not understood".into(),
                })
            }),
    };
    let _ = record(nodes, s, &result).await;
    result
}

async fn record(nodes: &Nodes, s: &Server, result: &Result<Probe, NodeError>) -> CoreResult<()> {
    let db = &nodes.db;
    let now = clock::now();
    let status = match result {
        Ok(p) => p.status(),
        Err(_) => "offline",
    };
    let mut tx = db.begin_write().await?;
    let q = sqlx::query(
        "INSERT INTO server_probes (server_id, at, reachable, load1, memory_used_mb, memory_total_mb, \
         disk_used_gb, disk_total_gb, uptime_seconds, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (server_id, at) DO NOTHING",
    )
    .bind(&s.id)
    .bind(&now);
    let q = match result {
        Ok(p) => q
            .bind(1i64)
            .bind(p.load1)
            .bind(p.memory_used_mb)
            .bind(p.memory_total_mb)
            .bind(p.disk_used_gb)
            .bind(p.disk_total_gb)
            .bind(p.uptime_seconds)
            .bind(None::<String>),
        Err(e) => q
            .bind(0i64)
            .bind(None::<f64>)
            .bind(None::<i64>)
            .bind(None::<i64>)
            .bind(None::<f64>)
            .bind(None::<f64>)
            .bind(None::<i64>)
            .bind(Some(e.to_string())),
    };
    q.execute(&mut *tx).await?;
    let before: Option<String> = sqlx::query_scalar("SELECT status FROM servers WHERE id = $1")
        .bind(&s.id)
        .fetch_optional(&mut *tx)
        .await?;
    match result {
        Ok(_) => {
            sqlx::query(
                "UPDATE servers SET status = $1, last_heartbeat_at = $2, last_error = NULL, updated_at = $2 WHERE id = $3",
            )
            .bind(status)
            .bind(&now)
            .bind(&s.id)
            .execute(&mut *tx)
            .await?;
        }
        Err(e) => {
            sqlx::query("UPDATE servers SET status = 'offline', last_error = $1, updated_at = $2 WHERE id = $3")
                .bind(e.to_string())
                .bind(&now)
                .bind(&s.id)
                .execute(&mut *tx)
                .await?;
        }
    }
    // Keep a week of probes per server.
    let cutoff = clock::format(time::OffsetDateTime::now_utc() - time::Duration::days(7));
    sqlx::query("DELETE FROM server_probes WHERE server_id = $1 AND at < $2")
        .bind(&s.id)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if before.as_deref().is_some_and(|b| b != status) {
        let level = match status {
            "online" => "info",
            "degraded" => "warning",
            _ => "error",
        };
        let why = match result {
            Err(e) => format!(": {e}"),
            Ok(_) => String::new(),
        };
        events::record(
            db,
            events::NewEvent {
                tenant_id: &s.tenant_id,
                source: "node",
                level,
                kind: &format!("server.{status}"),
                message: format!("{} is {status}{why}", s.name),
                job_id: None,
                server_id: Some(&s.id),
            },
        )
        .await;
    }
    Ok(())
}

/// The scheduled `nodes.heartbeat` job: every server of every tenant,
/// several at once.
pub struct Heartbeat {
    pub nodes: Nodes,
}

#[async_trait]
impl JobHandler for Heartbeat {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM servers ORDER BY id")
            .fetch_all(ctx.db().pool())
            .await
            .map_err(crate::CoreError::from)?;
        let (mut up, mut down) = (0, 0);
        for chunk in ids.chunks(16) {
            let mut probes = Vec::new();
            for id in chunk {
                if let Some(s) = super::servers::load(ctx.db(), id).await? {
                    let nodes = self.nodes.clone();
                    probes.push(async move { (s.name.clone(), probe(&nodes, &s).await) });
                }
            }
            for (name, r) in futures_util::future::join_all(probes).await {
                match r {
                    Ok(_) => up += 1,
                    Err(e) => {
                        down += 1;
                        ctx.log("stderr", format!("{name}: {e}")).await?;
                    }
                }
            }
        }
        ctx.log("stdout", format!("{up} server(s) answered, {down} did not"))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_read() {
        let out = "350735.47 1393145.82\n0.52 0.58 0.59 1/1092 3329846\nMemTotal:       24567892 kB\nMemFree:         1234567 kB\nMemAvailable:   20000000 kB\n\
Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/vda         263174212 100000000 163174212      39% /\n";
        let p = parse(out).unwrap();
        assert_eq!(p.uptime_seconds, 350_735);
        assert_eq!(p.load1, 0.52);
        assert_eq!(p.memory_total_mb, 23_992);
        assert_eq!(p.memory_used_mb, (24_567_892 - 20_000_000) / 1024);
        assert_eq!(p.disk_total_gb, 250.98);
        assert_eq!(p.status(), "online");
        assert!(parse("garbage").is_none());
        let full = Probe {
            disk_used_gb: 95.0,
            disk_total_gb: 100.0,
            ..p
        };
        assert_eq!(full.status(), "degraded");
        assert_eq!(uptime_words(350_735), "4 d 1 h");
        assert_eq!(uptime_words(42), "42 s");
    }
}
