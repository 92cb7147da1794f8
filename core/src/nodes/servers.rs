//! Servers (nodes): what Mooring knows of each, how it reaches it, and the
//! host key it pinned. Operators see the tenant's servers; admins add,
//! change, remove them and accept a changed host key.

use std::time::Duration;

use serde::Deserialize;
use sqlx::Row;

use super::{
    keys::{node_key, NodeKey, Vault},
    proxmox::{HypervisorInput, PodNetwork, ProxmoxConfig, Pve},
    ssh::{self, Cmd, NodeError, Output, Pool, Stream, Target},
};
use crate::paging::TOTAL;
use crate::{
    audit, clock,
    error::field_error,
    events,
    identity::Principal,
    paging::Page,
    vault::{Binding, Purpose},
    CoreError, CoreResult, Db,
};

/// The row a server's sealed Proxmox token secret is bound to.
fn token_binding<'a>(id: &'a str, tenant: &'a str) -> Binding<'a> {
    Binding::new("servers", id, tenant)
}

pub const ROLES: [&str; 7] = [
    "web",
    "db",
    "dns",
    "mail",
    "backup",
    "hypervisor",
    "control",
];

#[derive(Clone, PartialEq)]
pub struct Server {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub host: String,
    pub ip: String,
    pub port: u16,
    pub ssh_user: String,
    pub roles: Vec<String>,
    pub status: String,
    pub last_heartbeat_at: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub presented_host_key_fingerprint: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// How it runs CloudPods (hypervisors).
    pub hypervisor: HypervisorConfig,
    /// The Proxmox token's secret, sealed (never shown).
    pub hypervisor_secret: Option<String>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("ssh_user", &self.ssh_user)
            .field("roles", &self.roles)
            .field("status", &self.status)
            .field("last_heartbeat_at", &self.last_heartbeat_at)
            .field("host_key_fingerprint", &self.host_key_fingerprint)
            .field(
                "presented_host_key_fingerprint",
                &self.presented_host_key_fingerprint,
            )
            .field("last_error", &self.last_error)
            .field("created_at", &self.created_at)
            .field("hypervisor", &self.hypervisor)
            .field(
                "hypervisor_secret",
                &self.hypervisor_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// How a hypervisor server runs CloudPods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HypervisorConfig {
    /// LXC containers, over SSH.
    Lxc,
    /// VMs cloned from a template through the Proxmox VE API.
    Proxmox(ProxmoxConfig),
}

/// The LXC pods' network on every node: gateway `.1`, pods from `.2`.
pub const LXC_NETWORK: &str = "10.213.0.0/24";

impl HypervisorConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            HypervisorConfig::Lxc => "lxc",
            HypervisorConfig::Proxmox(_) => "proxmox",
        }
    }

    /// Where pods on this node take their addresses.
    pub fn pod_network(&self) -> PodNetwork {
        match self {
            HypervisorConfig::Lxc => {
                PodNetwork::parse(LXC_NETWORK, None).expect("the LXC network is valid")
            }
            HypervisorConfig::Proxmox(c) => c.pod_network(),
        }
    }

    fn to_json(&self, secret_set: bool) -> serde_json::Value {
        match self {
            HypervisorConfig::Lxc => serde_json::json!({ "kind": "lxc", "network": LXC_NETWORK }),
            HypervisorConfig::Proxmox(c) => {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["kind"] = "proxmox".into();
                v["tokenSecretSet"] = secret_set.into();
                v
            }
        }
    }
}

impl Server {
    /// The contract's shape, plus the extension fields.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "tenantId": self.tenant_id,
            "name": self.name,
            "role": self.roles.first(),
            "roles": self.roles,
            "ip": self.ip,
            "host": self.host,
            "port": self.port,
            "sshUser": self.ssh_user,
            "status": self.status,
            "lastHeartbeatAt": self.last_heartbeat_at,
            "hostKeyFingerprint": self.host_key_fingerprint,
            "presentedHostKeyFingerprint": self.presented_host_key_fingerprint,
            "lastError": self.last_error,
            "createdAt": self.created_at,
            "hypervisor": self.hypervisor.to_json(self.hypervisor_secret.is_some()),
        })
    }

    /// A client for this server's Proxmox API (Proxmox servers only).
    pub fn proxmox(&self, vault: &Vault) -> Result<Option<Pve>, NodeError> {
        let HypervisorConfig::Proxmox(cfg) = &self.hypervisor else {
            return Ok(None);
        };
        let secret = self
            .hypervisor_secret
            .as_deref()
            .ok_or_else(|| NodeError::ApiAuth("no token secret is stored for this server".into()))
            .and_then(|sealed| {
                vault
                    .open(
                        Purpose::ProxmoxToken,
                        &token_binding(&self.id, &self.tenant_id),
                        sealed,
                    )
                    .map_err(|e| NodeError::ApiAuth(e.to_string()))
            })?;
        Pve::new(cfg, &String::from_utf8_lossy(&secret)).map(Some)
    }

    pub fn target(&self) -> Target {
        Target {
            id: self.id.clone(),
            host: self.host.clone(),
            port: self.port,
            user: self.ssh_user.clone(),
            pinned: self.host_key_fingerprint.clone(),
        }
    }
}

fn row_to_server(r: &sqlx::any::AnyRow) -> CoreResult<Server> {
    let roles: String = r.try_get("roles")?;
    let port: i64 = r.try_get("port")?;
    Ok(Server {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        host: r.try_get("host")?,
        ip: r.try_get("ip")?,
        port: u16::try_from(port).unwrap_or(22),
        ssh_user: r.try_get("ssh_user")?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        status: r.try_get("status")?,
        last_heartbeat_at: r.try_get("last_heartbeat_at")?,
        host_key_fingerprint: r.try_get("host_key_fingerprint")?,
        presented_host_key_fingerprint: r.try_get("presented_host_key_fingerprint")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        hypervisor: match r.try_get::<String, _>("hypervisor")?.as_str() {
            "proxmox" => {
                let raw: Option<String> = r.try_get("hypervisor_config")?;
                let cfg = raw
                    .and_then(|c| serde_json::from_str(&c).ok())
                    .ok_or_else(|| {
                        CoreError::Internal("a Proxmox server has no settings".into())
                    })?;
                HypervisorConfig::Proxmox(cfg)
            }
            _ => HypervisorConfig::Lxc,
        },
        hypervisor_secret: r.try_get("hypervisor_secret")?,
    })
}

/// A server to add, or the fields to change (`None`: keep).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerInput {
    pub name: Option<String>,
    pub host: Option<String>,
    pub ip: Option<String>,
    pub port: Option<i64>,
    pub ssh_user: Option<String>,
    pub roles: Option<Vec<String>>,
    /// How it runs CloudPods (default: LXC over SSH).
    pub hypervisor: Option<HypervisorInput>,
}

/// The tenant's servers, by name.
pub async fn list(db: &Db, p: &Principal, page: Page) -> CoreResult<(Vec<Server>, i64)> {
    p.require_operator("only operators see servers")?;
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM servers WHERE tenant_id = $1 ORDER BY name, id LIMIT $2 OFFSET $3",
    ))
    .bind(&p.tenant_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE tenant_id = $1")
            .bind(&p.tenant_id)
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_server).collect::<CoreResult<_>>()?,
        total,
    ))
}

/// One server of the caller's tenant.
pub async fn get(db: &Db, p: &Principal, id: &str) -> CoreResult<Server> {
    p.require_operator("only operators see servers")?;
    load(db, id)
        .await?
        .filter(|s| s.tenant_id == p.tenant_id)
        .ok_or(CoreError::NotFound)
}

/// A server by id, any tenant (jobs).
pub async fn load(db: &Db, id: &str) -> CoreResult<Option<Server>> {
    sqlx::query("SELECT * FROM servers WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(row_to_server)
        .transpose()
}

fn check_name(n: &str) -> CoreResult<String> {
    crate::names::display("name", n, 100)
}

fn check_host(h: &str) -> CoreResult<String> {
    let h = h.trim().trim_start_matches('[').trim_end_matches(']');
    let ok = !h.is_empty()
        && h.len() <= 253
        && !h.starts_with('-')
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    if !ok {
        return Err(field_error(
            "host",
            "must be a host name or an IP address (letters, digits, dots, dashes)",
        ));
    }
    Ok(h.to_ascii_lowercase())
}

fn check_ip(ip: &str) -> CoreResult<String> {
    ip.trim()
        .parse::<std::net::IpAddr>()
        .map(|a| a.to_string())
        .map_err(|_| field_error("ip", "must be an IPv4 or IPv6 address"))
}

fn check_port(p: i64) -> CoreResult<u16> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| field_error("port", "must be 1 to 65535"))
}

fn check_user(u: &str) -> CoreResult<String> {
    let u = u.trim();
    let ok = !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b));
    if !ok {
        return Err(field_error(
            "sshUser",
            "must be a Unix user name (lowercase letters, digits, _ and -)",
        ));
    }
    Ok(u.to_string())
}

fn check_roles(roles: &[String]) -> CoreResult<Vec<String>> {
    if roles.is_empty() {
        return Err(field_error("roles", "give at least one role"));
    }
    let mut out: Vec<String> = Vec::new();
    for r in roles {
        let r = r.trim().to_lowercase();
        if !ROLES.contains(&r.as_str()) {
            return Err(field_error(
                "roles",
                format!("{r} is not a role; roles are {}", ROLES.join(", ")),
            ));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// The address of `host`: itself when it is one, else what it resolves to.
async fn resolve(host: &str, port: u16) -> CoreResult<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    let found = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .and_then(|mut a| a.next());
    found.map(|a| a.ip().to_string()).ok_or_else(|| {
        field_error(
            "ip",
            format!("{host} does not resolve here; give the server's IP address"),
        )
    })
}

/// The hypervisor settings `input` asks for over `current`: the kind,
/// the Proxmox config as JSON and the token secret sealed for `row`
/// (`None`: keep).
fn check_hypervisor(
    vault: &Vault,
    row: &Binding<'_>,
    input: Option<&HypervisorInput>,
    current: Option<&Server>,
    host: &str,
    roles: &[String],
) -> CoreResult<(HypervisorConfig, Option<String>)> {
    let cur_cfg = current.map(|c| &c.hypervisor);
    let kind = match input.and_then(|i| i.kind.as_deref()) {
        Some(k) => k.trim().to_lowercase(),
        None => cur_cfg.map_or("lxc", |c| c.kind()).to_string(),
    };
    let out = match kind.as_str() {
        "lxc" => (HypervisorConfig::Lxc, None),
        "proxmox" => {
            if roles.iter().any(|r| r != "hypervisor") {
                return Err(field_error(
                    "roles",
                    "a Proxmox VE server is reached through its API: its only role is hypervisor",
                ));
            }
            let before = match cur_cfg {
                Some(HypervisorConfig::Proxmox(c)) => Some(c),
                _ => None,
            };
            let given = input.cloned().unwrap_or_default();
            let (cfg, secret) = ProxmoxConfig::check(&given, before, host)?;
            let sealed = secret
                .map(|s| vault.seal(Purpose::ProxmoxToken, row, s.as_bytes()))
                .transpose()?;
            if sealed.is_none() && current.and_then(|c| c.hypervisor_secret.as_ref()).is_none() {
                return Err(field_error("tokenSecret", "is required"));
            }
            (HypervisorConfig::Proxmox(cfg), sealed)
        }
        other => {
            return Err(field_error(
                "kind",
                format!("{other} is not a hypervisor; use lxc or proxmox"),
            ))
        }
    };
    Ok(out)
}

fn hypervisor_json(h: &HypervisorConfig) -> Option<String> {
    match h {
        HypervisorConfig::Lxc => None,
        HypervisorConfig::Proxmox(c) => serde_json::to_string(c).ok(),
    }
}

/// Add a server (tenant admins). Its status is `offline` until Mooring
/// has reached it; its host key is pinned on first contact.
pub async fn create(nodes: &Nodes, p: &Principal, input: ServerInput) -> CoreResult<Server> {
    let db = &nodes.db;
    p.require_admin("only admins add servers")?;
    let name = check_name(input.name.as_deref().unwrap_or_default())?;
    let host = check_host(
        input
            .host
            .as_deref()
            .ok_or_else(|| field_error("host", "is required"))?,
    )?;
    let port = check_port(input.port.unwrap_or(22))?;
    let user = check_user(input.ssh_user.as_deref().unwrap_or("root"))?;
    let roles = check_roles(
        input
            .roles
            .as_deref()
            .ok_or_else(|| field_error("roles", "is required"))?,
    )?;
    let ip = match input.ip.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(ip) => check_ip(ip)?,
        None => resolve(&host, port).await?,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let (hv, secret) = check_hypervisor(
        &nodes.vault,
        &token_binding(&id, &p.tenant_id),
        input.hypervisor.as_ref(),
        None,
        &host,
        &roles,
    )?;
    let now = clock::now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO servers (id, tenant_id, name, host, ip, port, ssh_user, roles, status, created_at, updated_at, \
         hypervisor, hypervisor_config, hypervisor_secret) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offline', $9, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(&p.tenant_id)
    .bind(&name)
    .bind(&host)
    .bind(&ip)
    .bind(i64::from(port))
    .bind(&user)
    .bind(roles.join(","))
    .bind(&now)
    .bind(hv.kind())
    .bind(hypervisor_json(&hv))
    .bind(&secret)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("server.created")
            .tenant(&p.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("server", &id)
            .meta(serde_json::json!({ "name": name, "host": host, "port": port, "hypervisor": hv.kind() })),
    )
    .await?;
    tx.commit().await?;
    get(db, p, &id).await
}

/// Change a server (tenant admins). A new host or port forgets the pinned
/// host key: the next contact pins the key found there.
pub async fn update(
    nodes: &Nodes,
    p: &Principal,
    id: &str,
    input: ServerInput,
) -> CoreResult<Server> {
    let db = &nodes.db;
    p.require_admin("only admins change servers")?;
    let cur = get(db, p, id).await?;
    let name = match &input.name {
        Some(n) => check_name(n)?,
        None => cur.name.clone(),
    };
    let host = match &input.host {
        Some(h) => check_host(h)?,
        None => cur.host.clone(),
    };
    let port = match input.port {
        Some(n) => check_port(n)?,
        None => cur.port,
    };
    let user = match &input.ssh_user {
        Some(u) => check_user(u)?,
        None => cur.ssh_user.clone(),
    };
    let roles = match &input.roles {
        Some(r) => check_roles(r)?,
        None => cur.roles.clone(),
    };
    let (hv, secret) = check_hypervisor(
        &nodes.vault,
        &token_binding(&cur.id, &cur.tenant_id),
        input.hypervisor.as_ref(),
        Some(&cur),
        &host,
        &roles,
    )?;
    // What finds the pods' guests (the node, its API, the kind) and their
    // addresses (the network) cannot change under living pods.
    let moves_pods = match (&hv, &cur.hypervisor) {
        (HypervisorConfig::Proxmox(a), HypervisorConfig::Proxmox(b)) => {
            a.api_url != b.api_url || a.node != b.node || a.pod_network() != b.pod_network()
        }
        (a, b) => a.kind() != b.kind(),
    };
    if moves_pods {
        let living = living_pods(&mut *db.pool().acquire().await?, id).await?;
        if living > 0 {
            return Err(CoreError::Conflict(format!(
                "{living} CloudPod(s) live on {}; its hypervisor, node, API address and pod network cannot change under them",
                cur.name
            )));
        }
    }
    let moved = host != cur.host || port != cur.port;
    let ip = match input.ip.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(ip) => check_ip(ip)?,
        None if host != cur.host => resolve(&host, port).await?,
        None => cur.ip.clone(),
    };
    let forget = if moved {
        ", host_key = NULL, host_key_fingerprint = NULL, presented_host_key = NULL, presented_host_key_fingerprint = NULL, status = 'offline'"
    } else {
        ""
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(&format!(
        "UPDATE servers SET name = $1, host = $2, ip = $3, port = $4, ssh_user = $5, roles = $6, updated_at = $7, \
         hypervisor = $10, hypervisor_config = $11, \
         hypervisor_secret = CASE WHEN $10 = 'lxc' THEN NULL ELSE COALESCE($12, hypervisor_secret) END{forget} \
         WHERE id = $8 AND tenant_id = $9"
    ))
    .bind(&name)
    .bind(&host)
    .bind(&ip)
    .bind(i64::from(port))
    .bind(&user)
    .bind(roles.join(","))
    .bind(clock::now())
    .bind(id)
    .bind(&p.tenant_id)
    .bind(hv.kind())
    .bind(hypervisor_json(&hv))
    .bind(&secret)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("server.updated")
            .tenant(&p.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("server", id)
            .meta(serde_json::json!({
                "hostKeyForgotten": moved,
                "hypervisor": hv.kind(),
                "tokenSecretChanged": secret.is_some(),
            })),
    )
    .await?;
    tx.commit().await?;
    nodes.changed(id);
    get(db, p, id).await
}

/// How many CloudPods not yet terminated are on server `id`.
async fn living_pods(conn: &mut sqlx::AnyConnection, id: &str) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM cloudpods WHERE server_id = $1 AND status <> 'terminated'",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

/// Remove a server (tenant admins); its probes go with it. Refused while
/// CloudPods live on it (destroy or move them first).
pub async fn delete(nodes: &Nodes, p: &Principal, id: &str) -> CoreResult<()> {
    let db = &nodes.db;
    p.require_admin("only admins remove servers")?;
    let s = get(db, p, id).await?;
    let mut tx = db.begin_write().await?;
    let living = living_pods(&mut tx, id).await?;
    if living > 0 {
        return Err(CoreError::Conflict(format!(
            "{living} CloudPod(s) live on {}; destroy them first",
            s.name
        )));
    }
    sqlx::query("UPDATE cloudpods SET server_id = NULL WHERE tenant_id = $2 AND server_id = $1")
        .bind(id)
        .bind(&s.tenant_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM server_probes WHERE server_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM servers WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(&p.tenant_id)
        .execute(&mut *tx)
        .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("server.deleted")
            .tenant(&p.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("server", id)
            .meta(serde_json::json!({ "name": s.name })),
    )
    .await?;
    tx.commit().await?;
    nodes.changed(id);
    Ok(())
}

/// Accept the host key the server presented instead of the pinned one
/// (tenant admins): it becomes the pinned key. `fingerprint` must be the
/// one shown to the admin, so a key that changed again is not accepted
/// unseen.
pub async fn accept_host_key(
    nodes: &Nodes,
    p: &Principal,
    id: &str,
    fingerprint: &str,
) -> CoreResult<Server> {
    let db = &nodes.db;
    p.require_admin("only admins accept host keys")?;
    let s = get(db, p, id).await?;
    if s.presented_host_key_fingerprint.as_deref() != Some(fingerprint) {
        return Err(CoreError::Conflict(
            match &s.presented_host_key_fingerprint {
                Some(f) => format!("the server now presents {f}; check that one"),
                None => "the server presented no other key".into(),
            },
        ));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE servers SET host_key = presented_host_key, host_key_fingerprint = presented_host_key_fingerprint, \
         presented_host_key = NULL, presented_host_key_fingerprint = NULL, last_error = NULL, updated_at = $1 \
         WHERE tenant_id = $4 AND id = $2 AND presented_host_key_fingerprint = $3",
    )
    .bind(clock::now())
    .bind(id)
    .bind(fingerprint)
    .bind(&s.tenant_id)
    .execute(&mut *tx)
    .await?;
    audit::record_in(
        &mut tx,
        audit::NewEvent::new("server.host_key_accepted")
            .tenant(&p.tenant_id)
            .actor(Some(p.user_id.clone()))
            .resource("server", id)
            .meta(
                serde_json::json!({ "previous": s.host_key_fingerprint, "accepted": fingerprint }),
            ),
    )
    .await?;
    tx.commit().await?;
    nodes.changed(id);
    get(db, p, id).await
}

/// What the node layer needs: the database, the vault with the node keys,
/// and the connection pool.
#[derive(Clone)]
pub struct Nodes {
    pub db: Db,
    pub vault: Vault,
    pub pool: Pool,
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nodes").finish_non_exhaustive()
    }
}

impl Nodes {
    pub fn new(db: Db, vault: Vault) -> Nodes {
        Nodes {
            db,
            vault,
            pool: Pool::default(),
        }
    }

    pub async fn key(&self, tenant: &str) -> CoreResult<NodeKey> {
        node_key(&self.db, &self.vault, tenant).await
    }

    /// Run `cmd` on `server` (exit status not checked). The first contact
    /// pins the presented host key; a different key later is refused and
    /// kept for an admin to look at.
    pub async fn run(
        &self,
        server: &Server,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        limit: Duration,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, NodeError> {
        let key = self
            .key(&server.tenant_id)
            .await
            .map_err(|e| NodeError::Unreachable(format!("the node key is unavailable: {e}")))?;
        // The row as stored now (a key pinned since `server` was read).
        let fresh = load(&self.db, &server.id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| server.clone());
        let target = fresh.target();
        let mut retried = false;
        loop {
            let conn = match self.pool.conn(&target, &key.private).await {
                Ok(c) => c,
                Err(e) => {
                    self.note_failure(&fresh, &e).await;
                    return Err(e);
                }
            };
            if target.pinned.is_none() {
                self.pin(&fresh, &conn.host_key).await;
            }
            match conn.try_exec(cmd, stdin, limit, on_line).await {
                Ok(out) => return Ok(out),
                Err(f) => {
                    if matches!(f.error, NodeError::Unreachable(_) | NodeError::Timeout(_)) {
                        self.pool.discard(&conn);
                    }
                    // A pooled connection the node dropped unseen: the
                    // command never went out; send it on a new one.
                    if !f.started && conn.reused() && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(f.error);
                }
            }
        }
    }

    /// Server `id` changed (address, port, user, host key, hypervisor) or
    /// is gone: its pooled connection is dropped, so the next command
    /// connects to the server as it is now. Every change in this module
    /// calls it; callers need not.
    pub fn changed(&self, id: &str) {
        self.pool.evict(id);
    }

    /// [`Nodes::run`], requiring exit status 0.
    pub async fn check(
        &self,
        server: &Server,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        limit: Duration,
        on_line: &mut (dyn FnMut(Stream, &str) + Send),
    ) -> Result<Output, NodeError> {
        let out = self.run(server, cmd, stdin, limit, on_line).await?;
        if out.code != 0 {
            return Err(NodeError::Exit {
                code: out.code,
                stderr_tail: out.stderr_tail,
            });
        }
        Ok(out)
    }

    async fn pin(&self, s: &Server, key: &ssh::HostKey) {
        // The pin and its audit event commit together.
        let pinned: CoreResult<()> = async {
            let mut tx = self.db.begin_write().await?;
            let r = sqlx::query(
                "UPDATE servers SET host_key = $1, host_key_fingerprint = $2, updated_at = $3 \
                 WHERE tenant_id = $5 AND id = $4 AND host_key_fingerprint IS NULL",
            )
            .bind(&key.openssh)
            .bind(&key.fingerprint)
            .bind(clock::now())
            .bind(&s.id)
            .bind(&s.tenant_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 1 {
                audit::record_in(
                    &mut tx,
                    audit::NewEvent::new("server.host_key_pinned")
                        .tenant(&s.tenant_id)
                        .resource("server", &s.id)
                        .meta(serde_json::json!({ "fingerprint": key.fingerprint })),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = pinned {
            tracing::warn!(server = %s.id, error = %e, "could not pin a host key");
        }
    }

    async fn note_failure(&self, s: &Server, e: &NodeError) {
        let presented = match e {
            NodeError::HostKeyMismatch { presented, .. } => Some(presented.clone()),
            _ => None,
        };
        let _ = sqlx::query(
            "UPDATE servers SET last_error = $1, \
             presented_host_key_fingerprint = COALESCE($2, presented_host_key_fingerprint), updated_at = $3 WHERE tenant_id = $5 AND id = $4",
        )
        .bind(e.to_string())
        .bind(&presented)
        .bind(clock::now())
        .bind(&s.id)
        .bind(&s.tenant_id)
        .execute(self.db.pool())
        .await;
        if presented.is_some() {
            events::record(
                &self.db,
                events::NewEvent {
                    tenant_id: &s.tenant_id,
                    source: "node",
                    level: "error",
                    kind: "server.host_key_mismatch",
                    message: format!("{}: {e}", s.name),
                    job_id: None,
                    server_id: Some(&s.id),
                },
            )
            .await;
        }
    }
}

/// What "test connection" found.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionTest {
    pub ok: bool,
    pub code: Option<&'static str>,
    pub message: String,
    pub host_key_fingerprint: Option<String>,
    pub server: Server,
}

/// Reach the server now (operators): pins its host key on first contact,
/// probes it and updates its status.
pub async fn test_connection(nodes: &Nodes, p: &Principal, id: &str) -> CoreResult<ConnectionTest> {
    p.require_operator("only operators test servers")?;
    let s = get(&nodes.db, p, id).await?;
    // A real test: a new connection, its host key checked again.
    nodes.changed(id);
    let result = super::heartbeat::probe(nodes, &s).await;
    let server = get(&nodes.db, p, id).await?;
    Ok(match result {
        Ok(probe) => ConnectionTest {
            ok: true,
            code: None,
            message: format!(
                "Connected {}: up {}, load {:.2}",
                match &server.hypervisor {
                    HypervisorConfig::Proxmox(c) =>
                        format!("to the Proxmox VE API of node {} as {}", c.node, c.token_id),
                    HypervisorConfig::Lxc => format!("as {}", server.ssh_user),
                },
                super::heartbeat::uptime_words(probe.uptime_seconds),
                probe.load1
            ),
            host_key_fingerprint: server.host_key_fingerprint.clone(),
            server,
        },
        Err(e) => ConnectionTest {
            ok: false,
            code: Some(e.code()),
            message: e.to_string(),
            host_key_fingerprint: server.host_key_fingerprint.clone(),
            server,
        },
    })
}

/// One stored probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub at: String,
    pub reachable: bool,
    pub load1: Option<f64>,
    pub memory_used_mb: Option<i64>,
    pub memory_total_mb: Option<i64>,
    pub disk_used_gb: Option<f64>,
    pub disk_total_gb: Option<f64>,
    pub uptime_seconds: Option<i64>,
    pub error: Option<String>,
}

impl ProbeRow {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "at": self.at,
            "reachable": self.reachable,
            "load1": self.load1,
            "memoryUsedMb": self.memory_used_mb,
            "memoryTotalMb": self.memory_total_mb,
            "diskUsedGb": self.disk_used_gb,
            "diskTotalGb": self.disk_total_gb,
            "uptimeSeconds": self.uptime_seconds,
            "error": self.error,
        })
    }
}

/// The server's latest probes, newest first (operators).
pub async fn probes(db: &Db, p: &Principal, id: &str, limit: i64) -> CoreResult<Vec<ProbeRow>> {
    get(db, p, id).await?;
    let rows =
        sqlx::query("SELECT * FROM server_probes WHERE server_id = $1 ORDER BY at DESC LIMIT $2")
            .bind(id)
            .bind(limit.clamp(1, 500))
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|r| {
            Ok(ProbeRow {
                at: r.try_get("at")?,
                reachable: crate::db::is_set(r.try_get("reachable")?),
                load1: r.try_get("load1")?,
                memory_used_mb: r.try_get("memory_used_mb")?,
                memory_total_mb: r.try_get("memory_total_mb")?,
                disk_used_gb: r.try_get("disk_used_gb")?,
                disk_total_gb: r.try_get("disk_total_gb")?,
                uptime_seconds: r.try_get("uptime_seconds")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
}
