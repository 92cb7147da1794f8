//! `/admin/audit`: the append-only audit trail, newest first.

use leptos::prelude::*;

use crate::components::common::FilterNav;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::format::short_time,
    server::{admin_audit, AuditRow},
};

#[component]
pub fn AdminAudit() -> impl IntoView {
    let q = use_query_map();
    let action = q.with_untracked(|m| m.get("type")).unwrap_or_default();
    let shown = action.clone();
    let events = Resource::new_blocking(move || action.clone(), |a| admin_audit(Some(a)));
    let filters = [
        ("", "Everything"),
        ("auth.", "Sign-ins"),
        ("user.", "Accounts"),
        ("token.", "Tokens"),
        ("api_key.", "API keys"),
        ("tenant.", "Tenants"),
    ];
    view! {
        <Title text="Audit log"/>
        <h1>"Audit log"</h1>
        <p class="muted">"Every change by anyone. Each event carries the hash of the one before it: " <code>"mooring audit verify"</code> " finds any edited or deleted event."</p>
        <FilterNav base="/admin/audit" param="type" label="Filter events" filters=filters.to_vec() current=shown.clone()/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(rows) => view! { <AuditTable rows/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the audit log: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTable(rows: Vec<AuditRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="audit-table">
                <thead><tr><th>"#"</th><th>"When"</th><th>"What"</th><th>"Who"</th><th>"On"</th><th>"From"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|e| view! {
                        <tr title=e.metadata.clone()>
                            <td data-label="#">{e.seq}</td>
                            <td data-label="When">{short_time(&e.at)}</td>
                            <td data-label="What"><code>{e.action.clone()}</code></td>
                            <td data-label="Who">{e.actor_id.clone().unwrap_or_else(|| "—".into())}</td>
                            <td data-label="On">{e.resource.clone().unwrap_or_else(|| "—".into())}</td>
                            <td data-label="From">{e.ip.clone().unwrap_or_else(|| "—".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
