//! `/admin`: the operator portal.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    pages::schedules::EventsTable,
    server::{job_counters, system_events, system_status, JobCounts, SystemReport},
};

fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[component]
fn StatusCards(status: SystemReport) -> impl IntoView {
    let db_class = format!("badge state-{}", status.database_state.replace(' ', "-"));
    view! {
        <div class="cards">
            <article class="card stat" data-testid="db-status">
                <h2>"Database"</h2>
                <p class="stat-value"><span class=db_class>{status.database_state.clone()}</span></p>
                <p class="muted">{format!("{} · {} ms", status.database_backend, status.database_latency_ms)}</p>
            </article>
            <article class="card stat">
                <h2>"Schema"</h2>
                <p class="stat-value">{if status.schema_up_to_date { "Up to date" } else { "Migrations pending" }}</p>
                <p class="muted">{status.schema_version.map(|v| format!("version {v}")).unwrap_or_else(|| "no migrations applied".into())}</p>
            </article>
            <article class="card stat">
                <h2>"Mooring"</h2>
                <p class="stat-value">{format!("v{}", status.version)}</p>
                <p class="muted">{format!("up {}", uptime(status.uptime_seconds))}</p>
            </article>
        </div>
    }
}

#[component]
fn JobCards(c: JobCounts) -> impl IntoView {
    let failed_class = if c.failed_24h > 0 {
        "stat-value error"
    } else {
        "stat-value"
    };
    view! {
        <div class="cards" data-testid="job-counters">
            <a class="card stat link-card" href="/admin/jobs?status=running">
                <h2>"Jobs running"</h2><p class="stat-value">{c.running}</p>
            </a>
            <a class="card stat link-card" href="/admin/jobs?status=queued">
                <h2>"Jobs queued"</h2><p class="stat-value">{c.queued}</p>
            </a>
            <a class="card stat link-card" href="/admin/jobs?status=failed">
                <h2>"Failed in 24 h"</h2>
                <p class=failed_class>{c.failed_24h}</p>
            </a>
        </div>
    }
}

#[component]
pub fn AdminDashboard() -> impl IntoView {
    let status = Resource::new_blocking(|| (), |_| system_status());
    let counters = Resource::new_blocking(|| (), |_| job_counters());
    let events = Resource::new_blocking(|| (), |_| system_events(None));
    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match counters.await {
                    Ok(c) => view! { <JobCards c/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not count the jobs: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| view! { <p class="muted">"Checking the system…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(s) => view! { <StatusCards status=s/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not read the system status: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
        <h2>"Recent events"</h2>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="events-table">"Nothing to report: no failed or abandoned jobs."</p> }.into_any(),
                    Ok(rows) => view! {
                        <EventsTable rows=rows.into_iter().take(8).collect()/>
                        <p><a href="/admin/events">"All events"</a></p>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the events: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AdminSystem() -> impl IntoView {
    let status = Resource::new_blocking(|| (), |_| system_status());
    view! {
        <Title text="System"/>
        <h1>"System"</h1>
        <form method="post" action="/admin/system/check" class="inline">
            <button type="submit" class="button primary">"Run a system check"</button>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Checking the system…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(s) => view! {
                        <table class="table kv">
                            <tbody>
                                <tr><th scope="row">"Version"</th><td>{s.version.clone()}</td></tr>
                                <tr><th scope="row">"Database backend"</th><td>{s.database_backend.clone()}</td></tr>
                                <tr><th scope="row">"Database state"</th><td>{s.database_state.clone()}</td></tr>
                                <tr><th scope="row">"Round trip"</th><td>{format!("{} ms", s.database_latency_ms)}</td></tr>
                                <tr><th scope="row">"Schema version"</th><td>{s.schema_version.map(|v| v.to_string()).unwrap_or_else(|| "none".into())}</td></tr>
                                <tr><th scope="row">"Uptime"</th><td>{uptime(s.uptime_seconds)}</td></tr>
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not read the system status: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_is_compact() {
        assert_eq!(super::uptime(5), "5s");
        assert_eq!(super::uptime(65), "1m 5s");
        assert_eq!(super::uptime(3_700), "1h 1m");
        assert_eq!(super::uptime(90_000), "1d 1h");
    }
}
