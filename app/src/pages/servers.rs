//! Servers: the list with status and last heartbeat, adding one (Mooring's
//! public key to install first), and a server's page (test the connection,
//! the pinned host key, a changed key to accept, recent probes, remove).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::{
    components::{common::load_error, format::short_time, layout::FieldError},
    nodes::{nodes_key, nodes_server, nodes_servers, ProxmoxView, ServerRow},
    server::{kept, kept_all},
};

const ROLES: [&str; 7] = [
    "web",
    "db",
    "dns",
    "mail",
    "backup",
    "hypervisor",
    "control",
];

/// How Mooring reaches the server, in a line.
fn address(s: &ServerRow) -> String {
    match &s.proxmox {
        Some(p) => format!("{} (Proxmox VE API, node {})", p.api_url, p.node),
        None => format!("{}@{}:{}", s.ssh_user, s.host, s.port),
    }
}

/// The Proxmox VE fields of a server form: what a refused form said, else
/// `current`.
#[component]
fn ProxmoxFields(current: Option<ProxmoxView>) -> impl IntoView {
    let c = current.clone();
    let v = move |name: &str, f: fn(&ProxmoxView) -> String| {
        kept(name).unwrap_or_else(|| c.as_ref().map(f).unwrap_or_default())
    };
    let editing = current.is_some();
    view! {
        <div class="field"><label for="px-url">"API address"</label><input id="px-url" name="apiUrl" placeholder="https://pve.example.com:8006 (default: the host, port 8006)" value=v("apiUrl", |p| p.api_url.clone())/><FieldError field="apiUrl"/></div>
        <div class="field"><label for="px-token">"API token id"</label><input id="px-token" name="tokenId" placeholder="mooring@pve!cloudpods" value=v("tokenId", |p| p.token_id.clone())/><FieldError field="tokenId"/></div>
        <div class="field"><label for="px-secret">{if editing { "API token secret (blank: keep)" } else { "API token secret" }}</label><input id="px-secret" name="tokenSecret" type="password" autocomplete="off"/><FieldError field="tokenSecret"/></div>
        <div class="field"><label for="px-node">"Node name"</label><input id="px-node" name="node" placeholder="pve" value=v("node", |p| p.node.clone())/><FieldError field="node"/></div>
        <div class="field"><label for="px-template">"Template VM id"</label><input id="px-template" name="templateVmid" inputmode="numeric" placeholder="9000" value=v("templateVmid", |p| p.template_vmid.to_string())/><FieldError field="templateVmid"/></div>
        <div class="field"><label for="px-storage">"Storage for clones (optional)"</label><input id="px-storage" name="storage" placeholder="local-lvm" value=v("storage", |p| p.storage.clone().unwrap_or_default())/><FieldError field="storage"/></div>
        <div class="field"><label for="px-disk">"Boot disk"</label><input id="px-disk" name="disk" placeholder="scsi0" value=v("disk", |p| p.disk.clone())/><FieldError field="disk"/></div>
        <div class="field"><label for="px-network">"Pod network"</label><input id="px-network" name="network" placeholder="10.214.0.0/24" value=v("network", |p| p.network.clone())/><FieldError field="network"/></div>
        <div class="field"><label for="px-gateway">"Gateway (optional)"</label><input id="px-gateway" name="gateway" placeholder="first address of the network" value=v("gateway", |p| p.gateway.clone().unwrap_or_default())/><FieldError field="gateway"/></div>
        <div class="field wide"><label for="px-ca">"Cluster CA certificate (/etc/pve/pve-root-ca.pem)"</label><textarea id="px-ca" name="caPem" rows="4" placeholder="-----BEGIN CERTIFICATE-----">{v("caPem", |p| p.ca_pem.clone().unwrap_or_default())}</textarea><FieldError field="caPem"/></div>
    }
}

/// Whether the last form was refused for a Proxmox field (its settings
/// then show unfolded, the message beside the field).
fn proxmox_refused() -> bool {
    #[cfg(feature = "ssr")]
    {
        const FIELDS: [&str; 11] = [
            "kind",
            "apiUrl",
            "tokenId",
            "tokenSecret",
            "node",
            "templateVmid",
            "storage",
            "disk",
            "network",
            "gateway",
            "caPem",
        ];
        crate::server::current_flash().is_some_and(|f| {
            f.kind == "error" && f.field.as_deref().is_some_and(|x| FIELDS.contains(&x))
        })
    }
    #[cfg(not(feature = "ssr"))]
    false
}

fn server_badge(status: &str) -> &'static str {
    match status {
        "online" => "badge state-ok",
        "degraded" => "badge state-degraded",
        _ => "badge state-down",
    }
}

#[component]
pub fn AdminServers() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| nodes_servers());
    let key = Resource::new_blocking(|| (), |_| nodes_key());
    view! {
        <Title text="Servers"/>
        <h1>"Servers"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="servers-table">"No servers yet: add the first below."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap">
                            <table class="table" data-testid="servers-table">
                                <thead><tr><th>"Server"</th><th>"Address"</th><th>"Roles"</th><th>"Status"</th><th>"Last heartbeat"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|s| view! {
                                        <tr data-server=s.id.clone()>
                                            <td data-label="Server"><a href=format!("/admin/servers/{}", s.id)>{s.name.clone()}</a></td>
                                            <td data-label="Address"><code>{address(&s)}</code></td>
                                            <td data-label="Roles">{s.roles.join(", ")}</td>
                                            <td data-label="Status"><span class=server_badge(&s.status)>{s.status.clone()}</span>
                                                {s.last_error.clone().map(|e| view! { <div class="muted small">{e}</div> })}</td>
                                            <td data-label="Last heartbeat">{s.last_heartbeat_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error("the servers", e),
                }
            })}
        </Suspense>
        <section class="card form-card" aria-labelledby="add-server">
            <h2 id="add-server">"Add a server"</h2>
            <ol class="steps">
                <li>
                    <p>"Put Mooring's public key in the SSH user's authorized_keys on the server:"</p>
                    <Suspense fallback=|| view! { <p class="muted">"Loading the key…"</p> }>
                        {move || Suspend::new(async move {
                            match key.await {
                                Ok((public, fingerprint)) => view! {
                                    <pre class="code" data-testid="node-public-key">{public.clone()}</pre>
                                    <p class="muted">{format!("Key fingerprint {fingerprint}. On the server, as that user:")}</p>
                                    <pre class="code">{format!("mkdir -p ~/.ssh && chmod 700 ~/.ssh && echo '{public}' >> ~/.ssh/authorized_keys")}</pre>
                                }.into_any(),
                                Err(e) => load_error("Mooring's key", e),
                            }
                        })}
                    </Suspense>
                </li>
                <li><p>"Tell Mooring where it is; then test the connection on its page, which pins its host key."</p></li>
            </ol>
            <p class="muted">"A Proxmox VE node is reached through its API instead: no SSH key. Make an API token (Datacenter → Permissions → API Tokens) with the VM.* and Datastore.AllocateSpace privileges, give it below with a cloud-init template VM, and choose the hypervisor role."</p>
            <form method="post" action="/admin/servers" class="form grid-form">
                <div class="field"><label for="s-name">"Name"</label><input id="s-name" name="name" required=true placeholder="web-1" value=kept("name")/><FieldError field="name"/></div>
                <div class="field"><label for="s-host">"Host"</label><input id="s-host" name="host" required=true placeholder="node1.example.com or 203.0.113.10" value=kept("host")/><FieldError field="host"/></div>
                <div class="field"><label for="s-ip">"IP address (optional)"</label><input id="s-ip" name="ip" value=kept("ip")/><FieldError field="ip"/></div>
                <div class="field"><label for="s-port">"SSH port"</label><input id="s-port" name="port" inputmode="numeric" value=kept("port").unwrap_or_else(|| "22".into())/><FieldError field="port"/></div>
                <div class="field"><label for="s-user">"SSH user"</label><input id="s-user" name="sshUser" value=kept("sshUser").unwrap_or_else(|| "root".into())/><FieldError field="sshUser"/></div>
                <fieldset class="field">
                    <legend>"Roles"</legend>
                    {let roles = kept_all("roles");
                    ROLES.into_iter().map(|r| {
                        let on = roles.as_ref().map_or(r == "web", |k| k.iter().any(|x| x == r));
                        view! { <label class="check"><input type="checkbox" name="roles" value=r checked=on/>{r}</label> }
                    }).collect_view()}
                    <FieldError field="roles"/>
                </fieldset>
                <fieldset class="field">
                    <legend>"CloudPods run as (hypervisors)"</legend>
                    {let proxmox = kept("hypervisor").as_deref() == Some("proxmox");
                    view! {
                        <label class="check"><input type="radio" name="hypervisor" value="lxc" checked=!proxmox/>"LXC containers, over SSH"</label>
                        <label class="check"><input type="radio" name="hypervisor" value="proxmox" checked=proxmox/>"Proxmox VE VMs, through its API"</label>
                    }}
                    <FieldError field="kind"/>
                </fieldset>
                <details class="field wide" open=proxmox_refused()>
                    <summary>"Proxmox VE settings"</summary>
                    <div class="form grid-form">
                        <ProxmoxFields current=None/>
                    </div>
                </details>
                <button type="submit" class="button primary">"Add the server"</button>
            </form>
        </section>
    }
}

#[component]
pub fn AdminServer() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let server = Resource::new_blocking(move || id.clone(), nodes_server);
    view! {
        <Title text="Server"/>
        <p><a href="/admin/servers">"← Servers"</a></p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match server.await {
                    Ok((s, probes)) => {
                        let id = s.id.clone();
                        view! {
                            <h1>{s.name.clone()}</h1>
                            <p>
                                <span class=server_badge(&s.status) data-testid="server-status">{s.status.clone()}</span>
                                {format!(" · {} · {}", address(&s), s.roles.join(", "))}
                            </p>
                            {s.last_error.clone().map(|e| view! { <p class="card attention" data-testid="server-error">{e}</p> })}
                            <div class="actions-row">
                                <form method="post" action=format!("/admin/servers/{id}/test") class="inline">
                                    <button type="submit" class="button primary">"Test the connection"</button>
                                </form>
                            </div>
                            <table class="table kv">
                                <tbody>
                                    {match &s.proxmox {
                                        None => view! { <tr><th scope="row">"Host key"</th><td data-testid="host-key">{s.host_key_fingerprint.clone().unwrap_or_else(|| "not pinned yet: the first connection pins it".into())}</td></tr> }.into_any(),
                                        Some(p) => view! {
                                            <tr><th scope="row">"Hypervisor"</th><td data-testid="hypervisor">{format!("Proxmox VE, node {}, template VM {}", p.node, p.template_vmid)}</td></tr>
                                            <tr><th scope="row">"API token"</th><td>{p.token_id.clone()}</td></tr>
                                            <tr><th scope="row">"TLS"</th><td>{if p.ca_pem.is_some() { "the cluster CA given below, and public CAs" } else { "public CAs only" }}</td></tr>
                                            <tr><th scope="row">"Pod network"</th><td>{format!("{} via {}", p.network, p.pod_gateway)}</td></tr>
                                        }.into_any(),
                                    }}
                                    <tr><th scope="row">"Last heartbeat"</th><td>{s.last_heartbeat_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td></tr>
                                </tbody>
                            </table>
                            {s.presented_host_key_fingerprint.clone().map(|presented| view! {
                                <section class="card attention" data-testid="host-key-changed">
                                    <h2>"The host key changed"</h2>
                                    <p>{format!("The server presented {presented} instead of the pinned key. Mooring refuses to connect until you accept it. Accept only if you know why it changed (the server was reinstalled); otherwise someone may be in the way.")}</p>
                                    <form method="post" action=format!("/admin/servers/{id}/accept-host-key") class="inline">
                                        <input type="hidden" name="fingerprint" value=presented.clone()/>
                                        <button type="submit" class="button danger">"Accept the new host key"</button>
                                    </form>
                                </section>
                            })}
                            <h2>"Recent probes"</h2>
                            {if probes.is_empty() {
                                view! { <p class="muted" data-testid="probes-table">"No probes yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="table" data-testid="probes-table">
                                            <thead><tr><th>"At"</th><th>"Reached"</th><th>"Load"</th><th>"Memory"</th><th>"Disk"</th><th>"Up"</th></tr></thead>
                                            <tbody>
                                                {probes.into_iter().map(|p| view! {
                                                    <tr>
                                                        <td data-label="At">{short_time(&p.at)}</td>
                                                        <td data-label="Reached">{if p.reachable { "yes".to_string() } else { format!("no: {}", p.error.clone().unwrap_or_default()) }}</td>
                                                        <td data-label="Load">{p.load.clone()}</td>
                                                        <td data-label="Memory">{p.memory.clone()}</td>
                                                        <td data-label="Disk">{p.disk.clone()}</td>
                                                        <td data-label="Up">{p.uptime.clone()}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }.into_any()
                            }}
                            {s.roles.iter().any(|r| r == "hypervisor").then(|| {
                                let proxmox = s.proxmox.clone();
                                let is_proxmox = proxmox.is_some();
                                view! {
                                    <section class="card form-card" aria-labelledby="hv-settings">
                                        <h2 id="hv-settings">"How it runs CloudPods"</h2>
                                        <form method="post" action=format!("/admin/servers/{id}/hypervisor") class="form grid-form">
                                            <fieldset class="field">
                                                <legend>"Hypervisor"</legend>
                                                <label class="check"><input type="radio" name="hypervisor" value="lxc" checked=!is_proxmox/>"LXC containers, over SSH"</label>
                                                <label class="check"><input type="radio" name="hypervisor" value="proxmox" checked=is_proxmox/>"Proxmox VE VMs, through its API"</label>
                                                <FieldError field="kind"/>
                                            </fieldset>
                                            <ProxmoxFields current=proxmox/>
                                            <button type="submit" class="button">"Save"</button>
                                        </form>
                                    </section>
                                }
                            })}
                            <section class="card form-card">
                                <h2>"Remove"</h2>
                                <p class="muted">"Mooring forgets the server and its probes; nothing on the server is touched."</p>
                                <form method="post" action=format!("/admin/servers/{id}/delete") class="inline">
                                    <button type="submit" class="button danger" aria-label=format!("Remove {}", s.name)>"Remove the server"</button>
                                </form>
                            </section>
                        }.into_any()
                    }
                    Err(e) => load_error("this server", e),
                }
            })}
        </Suspense>
    }
}
