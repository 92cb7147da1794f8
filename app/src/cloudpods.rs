//! Server functions of the CloudPod pages, shared by both portals: core
//! decides what the caller sees (an operator: the tenant's pods; a
//! customer: its own).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::server::JobRow;
#[cfg(feature = "ssr")]
use crate::server::{caller, db, fail, first_page};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodRow {
    pub id: String,
    pub name: String,
    pub customer_id: String,
    pub customer: String,
    pub status: String,
    pub power: String,
    pub template: String,
    pub ipv4: Option<String>,
    pub node: Option<String>,
    pub size: String,
    pub last_error: Option<String>,
    pub created_at: String,
    /// What the viewer may do to it now (core decides: its state, power and product).
    pub actions: Vec<String>,
    /// A job is queued or running on it, or it is on its way up or down.
    pub busy: bool,
    /// The guest on its node: "LXC container mooring-…" or "Proxmox VM 101".
    pub guest: String,
}

#[cfg(feature = "ssr")]
async fn rows(
    db: &mooring_core::Db,
    v: &mooring_core::billing::Viewer,
    pods: Vec<mooring_core::cloudpods::CloudPod>,
) -> Vec<PodRow> {
    use std::collections::HashMap;
    let mut customers: HashMap<String, String> = HashMap::new();
    let mut nodes: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for p in pods {
        if !customers.contains_key(&p.customer_id) {
            let name = mooring_core::billing::customers::get(db, v, &p.customer_id)
                .await
                .map(|c| c.name)
                .unwrap_or_default();
            customers.insert(p.customer_id.clone(), name);
        }
        let node = match (&p.server_id, v.only_customer()) {
            (Some(sid), None) => {
                if !nodes.contains_key(sid) {
                    let name = mooring_core::nodes::servers::load(db, sid)
                        .await
                        .ok()
                        .flatten()
                        .map(|s| s.name)
                        .unwrap_or_default();
                    nodes.insert(sid.clone(), name);
                }
                nodes.get(sid).cloned()
            }
            _ => None,
        };
        let customer_actions = mooring_core::cloudpods::customer_actions(db, &p)
            .await
            .unwrap_or_default();
        let actions = mooring_core::cloudpods::actions_for(
            &p,
            v.only_customer().is_none(),
            &customer_actions,
        )
        .into_iter()
        .map(str::to_string)
        .collect();
        let busy = mooring_core::cloudpods::working(db, &p)
            .await
            .unwrap_or(false);
        let guest = match p.provider.as_str() {
            "proxmox" if p.provider_ref.parse::<u32>().is_ok() => {
                format!("Proxmox VM {}", p.provider_ref)
            }
            "proxmox" => "Proxmox VM (not made yet)".to_string(),
            _ => format!("LXC container {}", p.provider_ref),
        };
        out.push(PodRow {
            guest,
            busy,
            actions,
            customer: customers.get(&p.customer_id).cloned().unwrap_or_default(),
            size: format!("{} CPU · {} MB · {} GB", p.cpu, p.memory_mb, p.disk_gb),
            id: p.id,
            name: p.name,
            customer_id: p.customer_id,
            status: p.status,
            power: p.power,
            template: p.template,
            ipv4: p.ipv4,
            node,
            last_error: p.last_error,
            created_at: p.created_at,
        });
    }
    out
}

#[server(prefix = "/_fn", endpoint = "cloudpods_list")]
pub async fn cloudpods_list(status: Option<String>) -> Result<Vec<PodRow>, ServerFnError> {
    let db = db()?;
    let v = mooring_core::billing::viewer(&db, &caller()?.principal())
        .await
        .map_err(fail)?;
    let (pods, _) = mooring_core::cloudpods::list(
        &db,
        &v,
        None,
        status.as_deref().filter(|s| !s.is_empty()),
        first_page()?,
    )
    .await
    .map_err(fail)?;
    Ok(rows(&db, &v, pods).await)
}

/// One pod, and (operators) the latest job on it.
#[server(prefix = "/_fn", endpoint = "cloudpod_detail")]
pub async fn cloudpod_detail(id: String) -> Result<(PodRow, Option<JobRow>), ServerFnError> {
    let db = db()?;
    let v = mooring_core::billing::viewer(&db, &caller()?.principal())
        .await
        .map_err(fail)?;
    let pod = mooring_core::cloudpods::get(&db, &v, &id)
        .await
        .map_err(fail)?;
    let job = if v.only_customer().is_none() {
        mooring_core::cloudpods::latest_job(&db, &v, &id)
            .await
            .map_err(fail)?
            .map(crate::server::job_row)
    } else {
        None
    };
    let row = rows(&db, &v, vec![pod]).await.remove(0);
    Ok((row, job))
}
