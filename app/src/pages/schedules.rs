//! `/admin/schedules` (recurring jobs) and `/admin/events` (what the queue,
//! the scheduler and the nodes reported).

use leptos::prelude::*;

use crate::components::common::FilterNav;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::format::{level_badge, short_time},
    server::{admin_schedules, system_events, EventRow, ScheduleRow},
};

#[component]
pub fn AdminSchedules() -> impl IntoView {
    let rows = Resource::new_blocking(|| (), |_| admin_schedules());
    view! {
        <Title text="Schedules"/>
        <h1>"Schedules"</h1>
        <p class="muted">"Recurring jobs. Times are UTC. When several Mooring processes share the database, each run is enqueued once."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="schedules-table">"No schedules."</p> }.into_any(),
                    Ok(rows) => view! { <SchedulesTable rows/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the schedules: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SchedulesTable(rows: Vec<ScheduleRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="schedules-table">
                <thead><tr><th>"Schedule"</th><th>"When"</th><th>"Job"</th><th>"State"</th><th>"Next run"</th><th>"Last run"</th><th>"Actions"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|s| {
                        let toggle = if s.enabled { "pause" } else { "resume" };
                        let toggle_label = if s.enabled { "Pause" } else { "Resume" };
                        view! {
                            <tr data-schedule=s.name.clone()>
                                <td data-label="Schedule"><strong>{s.name.clone()}</strong></td>
                                <td data-label="When">{s.when.clone()}<br/><code class="muted">{s.cron.clone()}</code></td>
                                <td data-label="Job"><code>{s.kind.clone()}</code></td>
                                <td data-label="State">
                                    <span class=if s.enabled { "badge state-ok" } else { "badge state-degraded" }>
                                        {if s.enabled { "active" } else { "paused" }}
                                    </span>
                                </td>
                                <td data-label="Next run">{if s.enabled { short_time(&s.next_run_at) } else { "—".into() }}</td>
                                <td data-label="Last run">
                                    {match (s.last_run_at.clone(), s.last_job_id.clone()) {
                                        (_, Some(job)) => view! {
                                            <a href=format!("/admin/jobs/{job}")>{s.last_run_at.as_deref().map(short_time).unwrap_or_else(|| "run now".into())}</a>
                                        }.into_any(),
                                        (Some(at), None) => view! { <span>{short_time(&at)}</span> }.into_any(),
                                        (None, None) => view! { <span class="muted">"never"</span> }.into_any(),
                                    }}
                                </td>
                                <td data-label="Actions"><div class="actions-row">
                                    <form method="post" action=format!("/admin/schedules/{}/run", s.id) class="inline">
                                        <button type="submit" class="button">"Run now"</button>
                                    </form>
                                    <form method="post" action=format!("/admin/schedules/{}/{toggle}", s.id) class="inline">
                                        <button type="submit" class="button">{toggle_label}</button>
                                    </form>
                                </div></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn EventsTable(rows: Vec<EventRow>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="events-table">
                <thead><tr><th>"When"</th><th>"Level"</th><th>"Event"</th><th>"What happened"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|e| view! {
                        <tr>
                            <td data-label="When">{short_time(&e.at)}</td>
                            <td data-label="Level"><span class=level_badge(&e.level)>{e.level.clone()}</span></td>
                            <td data-label="Event"><code>{e.kind.clone()}</code><span class="muted">{format!(" · {}", e.source)}</span></td>
                            <td data-label="What happened">
                                {match e.job_id.clone() {
                                    Some(j) => view! { <a href=format!("/admin/jobs/{j}")>{e.message.clone()}</a> }.into_any(),
                                    None => view! { <span>{e.message.clone()}</span> }.into_any(),
                                }}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AdminEvents() -> impl IntoView {
    let q = use_query_map();
    let level = q.with_untracked(|m| m.get("level")).unwrap_or_default();
    let shown = level.clone();
    let events = Resource::new_blocking(move || level.clone(), |l| system_events(Some(l)));
    let filters = [
        ("", "Everything"),
        ("error", "Errors"),
        ("warning", "Warnings"),
        ("info", "Info"),
    ];
    view! {
        <Title text="Events"/>
        <h1>"Events"</h1>
        <p class="muted">"What the job queue, the scheduler and the nodes reported, newest first."</p>
        <FilterNav base="/admin/events" param="level" label="Filter events" filters=filters.to_vec() current=shown.clone()/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="events-table">"Nothing to report."</p> }.into_any(),
                    Ok(rows) => view! { <EventsTable rows/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the events: {e}")}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
