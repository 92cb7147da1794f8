//! CloudPods: the operators' list and a pod's page (actions, the latest
//! job live), and the customer's "my CloudPods" with the actions a
//! customer may take (start, stop, reboot).

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    billing::{billing_customers, billing_products},
    cloudpods::{cloudpod_detail, cloudpods_list, PodRow},
    components::{
        common::{load_error, FilterNav},
        format::short_time,
        islands::LiveJob,
        layout::FieldError,
    },
};

fn pod_badge(status: &str) -> &'static str {
    match status {
        "active" => "badge state-ok",
        "pending" | "provisioning" | "suspended" | "terminating" => "badge state-degraded",
        _ => "badge state-down",
    }
}

/// The actions core offers for the pod: `(action, label, danger)`.
fn actions(p: &PodRow) -> Vec<(&'static str, &'static str, bool)> {
    p.actions
        .iter()
        .filter_map(|a| match a.as_str() {
            "reboot" => Some(("reboot", "Reboot", false)),
            "stop" => Some(("stop", "Stop", false)),
            "start" => Some(("start", "Start", false)),
            "suspend" => Some(("suspend", "Suspend", true)),
            "unsuspend" => Some(("unsuspend", "Resume", false)),
            "destroy" => Some(("destroy", "Destroy", true)),
            _ => None,
        })
        .collect()
}

#[component]
fn PodActions(pod: PodRow, base: &'static str) -> impl IntoView {
    let id = pod.id.clone();
    let name = pod.name.clone();
    view! {
        <div class="actions-row">
            {actions(&pod).into_iter().map(|(action, label, danger)| view! {
                <form method="post" action=format!("{base}/{id}/{action}") class="inline">
                    <button type="submit" class=if danger { "button small danger" } else { "button small" }
                        aria-label=format!("{label} {name}")>{label}</button>
                </form>
            }).collect_view()}
        </div>
    }
}

#[component]
fn PodsTable(rows: Vec<PodRow>, base: &'static str, operator: bool) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted" data-testid="cloudpods-table">"No CloudPods."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="cloudpods-table">
                <thead><tr><th>"CloudPod"</th>{operator.then(|| view! { <th>"Customer"</th> })}<th>"Status"</th><th>"Address"</th><th>"Size"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|p| view! {
                        <tr data-cloudpod=p.name.clone()>
                            <td data-label="CloudPod">{if operator {
                                view! { <a href=format!("/admin/cloudpods/{}", p.id)>{p.name.clone()}</a> }.into_any()
                            } else {
                                view! { <span>{p.name.clone()}</span> }.into_any()
                            }}<span class="muted">{format!(" · {}", p.template)}</span></td>
                            {operator.then(|| view! { <td data-label="Customer"><a href=format!("/admin/customers/{}", p.customer_id)>{p.customer.clone()}</a></td> })}
                            <td data-label="Status"><span class=pod_badge(&p.status) data-testid="cloudpod-status">{p.status.clone()}</span>
                                <span class="muted" data-testid="cloudpod-power">{format!(" · {}", p.power)}</span>
                                {p.last_error.clone().map(|e| view! { <div class="muted small">{e}</div> })}</td>
                            <td data-label="Address">{p.ipv4.clone().unwrap_or_else(|| "—".into())}{p.node.clone().map(|n| view! { <span class="muted">{format!(" on {n}")}</span> })}</td>
                            <td data-label="Size">{p.size.clone()}</td>
                            <td class="actions"><PodActions pod=p.clone() base/></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn AdminCloudPods() -> impl IntoView {
    let q = use_query_map();
    let status = q.with_untracked(|m| m.get("status")).unwrap_or_default();
    let shown = status.clone();
    let list = Resource::new_blocking(move || status.clone(), |s| cloudpods_list(Some(s)));
    let choices = Resource::new_blocking(
        || (),
        |_| async {
            let customers = billing_customers(None).await?;
            let products = billing_products().await?;
            Ok::<_, ServerFnError>((
                customers,
                products
                    .into_iter()
                    .filter(|p| p.kind == "cloudpod" && p.status == "active")
                    .collect::<Vec<_>>(),
            ))
        },
    );
    let filters = vec![
        ("", "All"),
        ("active", "Active"),
        ("provisioning", "Provisioning"),
        ("suspended", "Suspended"),
        ("failed", "Failed"),
        ("terminated", "Terminated"),
    ];
    view! {
        <Title text="CloudPods"/>
        <h1>"CloudPods"</h1>
        <p class="muted">"Containers (LXC) or VMs (Proxmox VE) on your hypervisor servers. Customers get one when they pay for a CloudPod product; dunning suspends and ends them."</p>
        <FilterNav base="/admin/cloudpods" param="status" label="Filter CloudPods" filters current=shown/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => view! { <PodsTable rows base="/admin/cloudpods" operator=true/> }.into_any(),
                    Err(e) => load_error("the CloudPods", e),
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match choices.await {
                    Ok((customers, products)) if customers.is_empty() || products.is_empty() => view! {
                        <p class="muted">"To make a CloudPod by hand, add a customer and an active CloudPod product first."</p>
                    }.into_any(),
                    Ok((customers, products)) => view! {
                        <section class="card form-card" aria-labelledby="make-pod">
                            <h2 id="make-pod">"Make a CloudPod"</h2>
                            <p class="muted">"For a customer, outside an order: it is sized by the product and placed on the least-loaded hypervisor."</p>
                            <form method="post" action="/admin/cloudpods" class="form grid-form">
                                <div class="field"><label for="pod-customer">"Customer"</label>
                                    <select id="pod-customer" name="customerId" required=true>
                                        {let chosen = crate::server::kept("customerId");
                                        customers.into_iter().map(|c| { let on = chosen.as_deref() == Some(c.id.as_str()); view! { <option value=c.id.clone() selected=on>{format!("{} <{}>", c.name, c.email)}</option> } }).collect_view()}
                                    </select><FieldError field="customerId"/></div>
                                <div class="field"><label for="pod-product">"Product"</label>
                                    <select id="pod-product" name="productId" required=true>
                                        {let chosen = crate::server::kept("productId");
                                        products.into_iter().map(|p| { let on = chosen.as_deref() == Some(p.id.as_str()); view! { <option value=p.id.clone() selected=on>{format!("{} ({})", p.name, p.sku)}</option> } }).collect_view()}
                                    </select><FieldError field="productId"/></div>
                                <div class="field"><label for="pod-name">"Name"</label><input id="pod-name" name="name" required=true placeholder="web-42" value=crate::server::kept("name") pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" title="lowercase letters, digits and dashes"/><FieldError field="name"/></div>
                                <button type="submit" class="button primary">"Make the CloudPod"</button>
                            </form>
                        </section>
                    }.into_any(),
                    Err(e) => load_error("customers and products", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AdminCloudPod() -> impl IntoView {
    let id = use_params_map()
        .with_untracked(|p| p.get("id"))
        .unwrap_or_default();
    let pod = Resource::new_blocking(move || id.clone(), cloudpod_detail);
    view! {
        <Title text="CloudPod"/>
        <p><a href="/admin/cloudpods">"← CloudPods"</a></p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match pod.await {
                    Ok((p, job)) => view! {
                        <h1>{p.name.clone()}</h1>
                        <p>
                            <span class=pod_badge(&p.status) data-testid="cloudpod-status">{p.status.clone()}</span>
                            <span class="muted" data-testid="cloudpod-power">{format!(" · {}", p.power)}</span>
                        </p>
                        {p.last_error.clone().map(|e| view! { <p class="card attention" data-testid="cloudpod-error">{e}</p> })}
                        <PodActions pod=p.clone() base="/admin/cloudpods"/>
                        <table class="table kv">
                            <tbody>
                                <tr><th scope="row">"Customer"</th><td><a href=format!("/admin/customers/{}", p.customer_id)>{p.customer.clone()}</a></td></tr>
                                <tr><th scope="row">"Address"</th><td data-testid="cloudpod-ip">{p.ipv4.clone().unwrap_or_else(|| "not yet".into())}</td></tr>
                                <tr><th scope="row">"Node"</th><td>{p.node.clone().unwrap_or_else(|| "not placed yet".into())}</td></tr>
                                <tr><th scope="row">"Guest"</th><td data-testid="cloudpod-guest">{p.guest.clone()}</td></tr>
                                <tr><th scope="row">"Template"</th><td>{p.template.clone()}</td></tr>
                                <tr><th scope="row">"Size"</th><td>{p.size.clone()}</td></tr>
                                <tr><th scope="row">"Created"</th><td>{short_time(&p.created_at)}</td></tr>
                            </tbody>
                        </table>
                        {job.map(|j| view! {
                            <h2>{format!("Latest job: {}", j.kind)}</h2>
                            <p><a href=format!("/admin/jobs/{}", j.id)>"The job's page and log"</a></p>
                            <LiveJob job_id=j.id.clone() status=j.status.clone() progress=j.progress label=j.progress_label.clone() after=0/>
                        })}
                    }.into_any(),
                    Err(e) => load_error("this CloudPod", e),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PortalCloudPods() -> impl IntoView {
    let list = Resource::new_blocking(|| (), |_| cloudpods_list(None));
    view! {
        <Title text="CloudPods"/>
        <h1>"Your CloudPods"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(rows) => {
                        // While work is under way the page follows it (no
                        // script needed): it reloads every few seconds.
                        let working = rows.iter().any(|r| r.busy);
                        view! {
                            {working.then(|| view! { <Meta http_equiv="refresh" content="4"/> })}
                            <PodsTable rows base="/portal/cloudpods" operator=false/>
                            {if working {
                                view! { <p class="muted" data-testid="pods-updating">"Work is under way: this page updates itself every few seconds."</p> }.into_any()
                            } else {
                                view! { <p><a href="/portal/cloudpods">"Refresh"</a></p> }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => load_error("your CloudPods", e),
                }
            })}
        </Suspense>
    }
}
