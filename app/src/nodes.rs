//! Server functions of the servers pages (operators): the tenant's
//! servers, one server with its recent probes, Mooring's SSH key.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::server::{caller, db, fail, first_page};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerRow {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub ssh_user: String,
    pub roles: Vec<String>,
    pub status: String,
    pub last_heartbeat_at: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub presented_host_key_fingerprint: Option<String>,
    pub last_error: Option<String>,
    /// `lxc` or `proxmox`.
    pub hypervisor: String,
    pub proxmox: Option<ProxmoxView>,
}

/// A Proxmox node's settings as shown (the token's secret never is).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxmoxView {
    pub api_url: String,
    pub token_id: String,
    pub node: String,
    pub template_vmid: u32,
    pub storage: Option<String>,
    pub disk: String,
    pub network: String,
    pub gateway: Option<String>,
    /// The gateway pods use (the given one, or the network's first address).
    pub pod_gateway: String,
    pub ca_pem: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeView {
    pub at: String,
    pub reachable: bool,
    pub load: String,
    pub memory: String,
    pub disk: String,
    pub uptime: String,
    pub error: Option<String>,
}

#[cfg(feature = "ssr")]
fn row(s: mooring_core::nodes::servers::Server) -> ServerRow {
    use mooring_core::nodes::servers::HypervisorConfig;
    let proxmox = match &s.hypervisor {
        HypervisorConfig::Proxmox(c) => Some(ProxmoxView {
            api_url: c.api_url.clone(),
            token_id: c.token_id.clone(),
            node: c.node.clone(),
            template_vmid: c.template_vmid,
            storage: c.storage.clone(),
            disk: c.disk.clone(),
            network: c.network.clone(),
            gateway: c.gateway.clone(),
            pod_gateway: c.pod_network().gateway.to_string(),
            ca_pem: c.ca_pem.clone(),
        }),
        HypervisorConfig::Lxc => None,
    };
    ServerRow {
        hypervisor: s.hypervisor.kind().to_string(),
        proxmox,
        id: s.id,
        name: s.name,
        host: s.host,
        port: s.port,
        ssh_user: s.ssh_user,
        roles: s.roles,
        status: s.status,
        last_heartbeat_at: s.last_heartbeat_at,
        host_key_fingerprint: s.host_key_fingerprint,
        presented_host_key_fingerprint: s.presented_host_key_fingerprint,
        last_error: s.last_error,
    }
}

#[server(prefix = "/_fn", endpoint = "nodes_servers")]
pub async fn nodes_servers() -> Result<Vec<ServerRow>, ServerFnError> {
    let p = caller()?.principal();
    let (list, _) = mooring_core::nodes::servers::list(&db()?, &p, first_page()?)
        .await
        .map_err(fail)?;
    Ok(list.into_iter().map(row).collect())
}

#[server(prefix = "/_fn", endpoint = "nodes_server")]
pub async fn nodes_server(id: String) -> Result<(ServerRow, Vec<ProbeView>), ServerFnError> {
    use mooring_core::nodes::{heartbeat::uptime_words, servers};
    let p = caller()?.principal();
    let db = db()?;
    let s = servers::get(&db, &p, &id).await.map_err(fail)?;
    let probes = servers::probes(&db, &p, &id, 20)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|r| ProbeView {
            at: r.at,
            reachable: r.reachable,
            load: r
                .load1
                .map(|l| format!("{l:.2}"))
                .unwrap_or_else(|| "—".into()),
            memory: match (r.memory_used_mb, r.memory_total_mb) {
                (Some(u), Some(t)) => format!("{u} / {t} MB"),
                _ => "—".into(),
            },
            disk: match (r.disk_used_gb, r.disk_total_gb) {
                (Some(u), Some(t)) => format!("{u:.1} / {t:.1} GB"),
                _ => "—".into(),
            },
            uptime: r
                .uptime_seconds
                .map(uptime_words)
                .unwrap_or_else(|| "—".into()),
            error: r.error,
        })
        .collect();
    Ok((row(s), probes))
}

/// Mooring's public key for this tenant and the line that installs it.
#[server(prefix = "/_fn", endpoint = "nodes_key")]
pub async fn nodes_key() -> Result<(String, String), ServerFnError> {
    let p = caller()?.principal();
    p.require_operator("only operators manage servers")
        .map_err(fail)?;
    let ctx = use_context::<std::sync::Arc<crate::server::PortalContext>>()
        .ok_or_else(|| ServerFnError::new("portal context missing"))?;
    let key = ctx.nodes.key(&p.tenant_id).await.map_err(fail)?;
    Ok((key.public_openssh, key.fingerprint))
}
