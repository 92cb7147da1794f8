//! The interactive parts: the only components whose code ships as WASM.

use leptos::prelude::*;

use crate::{
    components::format::{short_time, status_badge},
    server::JobRow,
};

/// Shows "Static" in the server-rendered HTML and "Live" once this page's
/// WASM has hydrated: the visible sign that interactivity is on.
#[island]
pub fn LiveBadge() -> impl IntoView {
    let (live, set_live) = signal(false);
    Effect::new(move |_| set_live.set(true));
    view! {
        <span
            class="live-badge"
            data-hydrated=move || live.get().to_string()
            title=move || {
                if live.get() {
                    "Interactive: this page's controls are live"
                } else {
                    "Static: the page works without JavaScript"
                }
            }
        >
            {move || if live.get() { "Live" } else { "Static" }}
        </span>
    }
}

/// The navigation of a portal. Without JavaScript it is always shown; once
/// hydrated, small screens fold it behind a Menu button.
#[island]
pub fn NavMenu(children: Children) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    let (open, set_open) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    view! {
        <div
            class="nav-menu"
            data-collapsible=move || hydrated.get().to_string()
            data-open=move || open.get().to_string()
        >
            <button
                type="button"
                class="nav-toggle"
                aria-expanded=move || open.get().to_string()
                hidden=move || !hydrated.get()
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                {move || if open.get() { "Close menu" } else { "Menu" }}
            </button>
            {children()}
        </div>
    }
}

/// A job's status and progress, kept live from its event stream
/// (`/api/jobs/{id}/events`): new log lines appear as they are written, and
/// the page reloads when the job ends so its actions fit the new state.
/// Without JavaScript it shows the state at render time (and a Refresh link).
#[island]
pub fn LiveJob(
    job_id: String,
    status: String,
    progress: i64,
    label: Option<String>,
    after: i64,
) -> impl IntoView {
    let (status, set_status) = signal(status);
    let (progress, set_progress) = signal(progress);
    let (label, set_label) = signal(label);
    let (lines, set_lines) = signal(Vec::<(String, String)>::new());
    let (live, set_live) = signal(false);
    #[cfg(feature = "hydrate")]
    {
        let finished = matches!(
            status.get_untracked().as_str(),
            "succeeded" | "failed" | "cancelled"
        );
        if !finished {
            follow(
                job_id.clone(),
                after,
                set_status,
                set_progress,
                set_label,
                set_lines,
                set_live,
            );
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (
        &job_id,
        after,
        set_status,
        set_progress,
        set_label,
        set_lines,
        set_live,
    );
    let badge = move || {
        let state = match status.get().as_str() {
            "succeeded" => "ok",
            "failed" | "cancelled" => "down",
            _ => "degraded",
        };
        format!("badge state-{state}")
    };
    view! {
        <div class="live-job" data-live=move || live.get().to_string()>
            <p><span class=badge data-testid="job-status">{move || status.get()}</span>
                {move || live.get().then_some(" · following live")}</p>
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=move || progress.get() aria-label="Progress" data-testid="job-progress">
                <div class="progress-bar" style=move || format!("width: {}%", progress.get())></div>
            </div>
            <p class="muted">{move || format!("{}%", progress.get())}{move || label.get().map(|l| format!(" · {l}"))}</p>
            <pre class="log log-live" data-testid="job-log-live" hidden=move || lines.get().is_empty()>
                {move || lines.get().into_iter().map(|(stream, line)| view! {
                    <span class=format!("log-line log-{stream}")>{line}"\n"</span>
                }).collect_view()}
            </pre>
        </div>
    }
}

#[cfg(feature = "hydrate")]
#[allow(clippy::too_many_arguments)]
fn follow(
    job_id: String,
    after: i64,
    set_status: WriteSignal<String>,
    set_progress: WriteSignal<i64>,
    set_label: WriteSignal<Option<String>>,
    set_lines: WriteSignal<Vec<(String, String)>>,
    set_live: WriteSignal<bool>,
) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Ok(es) = web_sys::EventSource::new(&format!("/api/jobs/{job_id}/events?after={after}"))
    else {
        return;
    };
    set_live.set(true);
    let on_job =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(v) = e
                .data()
                .as_string()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
            {
                if let Some(s) = v["status"].as_str() {
                    set_status.set(s.to_string());
                }
                set_progress.set(v["progress"]["percent"].as_i64().unwrap_or(0));
                set_label.set(v["progress"]["label"].as_str().map(str::to_string));
            }
        });
    let on_log =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            if let Some(v) = e
                .data()
                .as_string()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
            {
                let stream = v["stream"].as_str().unwrap_or("stdout").to_string();
                let line = v["line"].as_str().unwrap_or_default().to_string();
                set_lines.update(|l| l.push((stream, line)));
            }
        });
    let es_end = es.clone();
    let on_end =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_e: web_sys::MessageEvent| {
            es_end.close();
            set_live.set(false);
            // The job ended: reload so the page's actions (retry, cancel) fit its new state.
            if let Some(w) = web_sys::window() {
                let _ = w.location().reload();
            }
        });
    let _ = es.add_event_listener_with_callback("job", on_job.as_ref().unchecked_ref());
    let _ = es.add_event_listener_with_callback("log", on_log.as_ref().unchecked_ref());
    let _ = es.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
    // The listeners live as long as the page.
    on_job.forget();
    on_log.forget();
    on_end.forget();
}

/// The jobs list. Rendered on the server as it stands; once hydrated it asks
/// for the list again every few seconds (while the tab is visible), so new
/// jobs, progress and endings show without a reload.
#[island]
pub fn LiveJobsTable(rows: Vec<JobRow>, status: String) -> impl IntoView {
    let (rows, set_rows) = signal(rows);
    let (live, set_live) = signal(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        set_live.set(true);
        let status = status.clone();
        let _ = set_interval_with_handle(
            move || {
                let hidden = web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.hidden());
                if hidden {
                    return;
                }
                let status = status.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(fresh) = crate::server::admin_jobs(Some(status)).await {
                        set_rows.set(fresh);
                    }
                });
            },
            std::time::Duration::from_secs(3),
        );
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (&status, set_rows, set_live);
    view! {
        <div class="live-jobs" data-live=move || live.get().to_string()>
            <Show
                when=move || !rows.with(Vec::is_empty)
                fallback=|| view! { <p class="muted" data-testid="jobs-table">"No jobs here."</p> }
            >
                <div class="table-wrap">
                    <table class="table" data-testid="jobs-table">
                        <thead><tr><th>"Job"</th><th>"Target"</th><th>"Status"</th><th>"Progress"</th><th>"Created"</th></tr></thead>
                        <tbody>
                            <For each=move || rows.get() key=|j| (j.id.clone(), j.status.clone(), j.progress) let:j>
                                <tr data-job=j.id.clone()>
                                    <td data-label="Job"><a href=format!("/admin/jobs/{}", j.id)>{j.kind.clone()}</a></td>
                                    <td data-label="Target">{j.target.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td data-label="Status"><span class=status_badge(&j.status)>{j.status.clone()}</span></td>
                                    <td data-label="Progress">{format!("{}%", j.progress)}</td>
                                    <td data-label="Created">{short_time(&j.created_at)}</td>
                                </tr>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
        </div>
    }
}
