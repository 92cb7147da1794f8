//! The servers pages' forms (post/redirect/get): add a server, test the
//! connection, accept a changed host key, remove. Core authorizes.

use axum::{
    body::Bytes,
    extract::{Path, State},
    response::Response,
};
use mooring_core::{
    nodes::{
        proxmox::HypervisorInput,
        servers::{self, ServerInput},
    },
    CoreError,
};
use tower_sessions::Session;

use super::{
    admin_forms::{back, back_refill, field, form, opt, PortalCaller},
    billing_forms::{back_err, back_err_refill},
};
use crate::state::AppState;

/// Never kept for a refused form to fill in again.
const SECRETS: &[&str] = &["tokenSecret"];

/// The hypervisor fields of a server form: `hypervisor` (`lxc` or
/// `proxmox`) and, for Proxmox, its settings (a blank secret keeps the
/// stored one; blank storage, gateway or CA clear them).
fn hypervisor_of(
    f: &[(String, String)],
) -> Result<Option<HypervisorInput>, (&'static str, String)> {
    let Some(kind) = opt(f, "hypervisor") else {
        return Ok(None);
    };
    if kind != "proxmox" {
        return Ok(Some(HypervisorInput {
            kind: Some(kind),
            ..Default::default()
        }));
    }
    let template_vmid = match opt(f, "templateVmid").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return Err((
                "templateVmid",
                "The template is a VM id, a number such as 9000.".into(),
            ))
        }
    };
    Ok(Some(HypervisorInput {
        kind: Some(kind),
        api_url: opt(f, "apiUrl"),
        token_id: opt(f, "tokenId"),
        token_secret: opt(f, "tokenSecret"),
        node: opt(f, "node"),
        template_vmid,
        storage: Some(field(f, "storage")),
        disk: opt(f, "disk"),
        network: opt(f, "network"),
        gateway: Some(field(f, "gateway")),
        ca_pem: Some(field(f, "caPem")),
    }))
}

/// `POST /admin/servers`.
pub async fn create(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let port = match opt(&f, "port").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return back_refill(
                &session,
                "/admin/servers",
                "The SSH port is a number from 1 to 65535.".into(),
                Some("port"),
                &f,
                SECRETS,
            )
            .await
        }
    };
    let hypervisor = match hypervisor_of(&f) {
        Ok(h) => h,
        Err((name, message)) => {
            return back_refill(&session, "/admin/servers", message, Some(name), &f, SECRETS).await
        }
    };
    let input = ServerInput {
        hypervisor,
        name: Some(field(&f, "name")),
        host: Some(field(&f, "host")),
        ip: opt(&f, "ip"),
        port,
        ssh_user: opt(&f, "sshUser"),
        roles: Some(
            f.iter()
                .filter(|(k, _)| k == "roles")
                .map(|(_, v)| v.clone())
                .collect(),
        ),
    };
    match servers::create(&state.nodes, &p, input).await {
        Ok(s) => {
            let next = match s.hypervisor {
                servers::HypervisorConfig::Proxmox(_) => "Test the connection to its API.",
                servers::HypervisorConfig::Lxc => "Test the connection to pin its host key.",
            };
            back(
                &session,
                &format!("/admin/servers/{}", s.id),
                Ok(format!("Added {}. {next}", s.name)),
                None,
            )
            .await
        }
        Err(e) => back_err_refill(&session, "/admin/servers", e, &f, SECRETS).await,
    }
}

/// `POST /admin/servers/{id}/test`.
pub async fn test(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let to = format!("/admin/servers/{id}");
    match servers::test_connection(&state.nodes, &p, &id).await {
        Ok(t) if t.ok => {
            let pinned = t
                .host_key_fingerprint
                .map(|f| format!(" Host key {f}."))
                .unwrap_or_default();
            back(&session, &to, Ok(format!("{}.{pinned}", t.message)), None).await
        }
        Ok(t) => {
            back(
                &session,
                &to,
                Err(format!("Could not reach it: {}", t.message)),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, &to, e).await,
    }
}

/// `POST /admin/servers/{id}/hypervisor`: how the server runs CloudPods.
pub async fn update_hypervisor(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let to = format!("/admin/servers/{id}");
    let f = form(&body);
    let hypervisor = match hypervisor_of(&f) {
        Ok(h) => h,
        Err((name, message)) => {
            return back_refill(&session, &to, message, Some(name), &f, SECRETS).await
        }
    };
    let input = ServerInput {
        hypervisor,
        ..Default::default()
    };
    match servers::update(&state.nodes, &p, &id, input).await {
        Ok(s) => {
            back(
                &session,
                &to,
                Ok(format!("Saved how {} runs CloudPods.", s.name)),
                None,
            )
            .await
        }
        Err(e) => back_err_refill(&session, &to, e, &f, SECRETS).await,
    }
}

/// `POST /admin/servers/{id}/accept-host-key`.
pub async fn accept_host_key(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let to = format!("/admin/servers/{id}");
    let f = form(&body);
    match servers::accept_host_key(&state.nodes, &p, &id, &field(&f, "fingerprint")).await {
        Ok(s) => {
            back(
                &session,
                &to,
                Ok(format!(
                    "Accepted. {} is pinned to {} now.",
                    s.name,
                    s.host_key_fingerprint.unwrap_or_default()
                )),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, &to, e).await,
    }
}

/// `POST /admin/servers/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    let name = servers::get(&state.db, &p, &id).await.map(|s| s.name);
    match (name, servers::delete(&state.nodes, &p, &id).await) {
        (Ok(name), Ok(())) => {
            back(
                &session,
                "/admin/servers",
                Ok(format!("Removed {name}.")),
                None,
            )
            .await
        }
        (_, Err(e)) | (Err(e), _) => {
            let to = match e {
                CoreError::NotFound => "/admin/servers".to_string(),
                _ => format!("/admin/servers/{id}"),
            };
            back_err(&session, &to, e).await
        }
    }
}

/// `POST /admin/cloudpods`: an operator makes a pod for a customer; its
/// page then follows the provisioning job.
pub async fn create_cloudpod(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let input = mooring_core::cloudpods::PodInput {
        customer_id: opt(&f, "customerId"),
        product_id: opt(&f, "productId"),
        name: Some(field(&f, "name")),
        ..Default::default()
    };
    let result = async {
        let v = mooring_core::billing::viewer(&state.db, &p).await?;
        mooring_core::cloudpods::create(&state.db, &v, &p.user_id, input).await
    }
    .await;
    match result {
        Ok((pod, _)) => {
            back(
                &session,
                &format!("/admin/cloudpods/{}", pod.id),
                Ok(format!(
                    "Making {}: its job below shows how it goes.",
                    pod.name
                )),
                None,
            )
            .await
        }
        Err(e) => back_err_refill(&session, "/admin/cloudpods", e, &f, &[]).await,
    }
}

/// `POST /{admin|portal}/cloudpods/{id}/{action}`: queue an action on a
/// CloudPod (core decides who may).
pub async fn cloudpod_action(
    State(state): State<AppState>,
    PortalCaller(p, _): PortalCaller,
    session: Session,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let to = if p.is_operator() {
        format!("/admin/cloudpods/{id}")
    } else {
        "/portal/cloudpods".to_string()
    };
    let result = async {
        let v = mooring_core::billing::viewer(&state.db, &p).await?;
        mooring_core::cloudpods::act(&state.db, &v, &p.user_id, &id, &action).await
    }
    .await;
    match result {
        Ok((pod, _)) => {
            let doing = match action.as_str() {
                "suspend" => "Suspending",
                "unsuspend" => "Resuming",
                "start" => "Starting",
                "stop" => "Stopping",
                "reboot" => "Rebooting",
                _ => "Destroying",
            };
            back(
                &session,
                &to,
                Ok(format!("{doing} {}: it takes a few seconds.", pod.name)),
                None,
            )
            .await
        }
        Err(e) => back_err(&session, &to, e).await,
    }
}
