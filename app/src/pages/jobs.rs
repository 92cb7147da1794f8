//! Admin pages for the job queue: the list, and one job with its progress and log.

use leptos::prelude::*;

use crate::components::common::FilterNav;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    components::islands::{LiveJob, LiveJobsTable},
    server::{admin_job, admin_jobs, JobRow},
};

fn finished(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

#[component]
pub fn AdminJobs() -> impl IntoView {
    let q = use_query_map();
    let status = q.with_untracked(|m| m.get("status")).unwrap_or_default();
    let shown = status.clone();
    let shown_for_live = status.clone();
    let jobs = Resource::new_blocking(move || status.clone(), |s| admin_jobs(Some(s)));
    let filters = [
        ("", "All"),
        ("queued", "Queued"),
        ("running", "Running"),
        ("failed", "Failed"),
        ("succeeded", "Succeeded"),
        ("cancelled", "Cancelled"),
    ];
    view! {
        <Title text="Jobs"/>
        <h1>"Jobs"</h1>
        <FilterNav base="/admin/jobs" param="status" label="Filter jobs" filters=filters.to_vec() current=shown.clone()/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let status = shown_for_live.clone();
                Suspend::new(async move {
                match jobs.await {
                    Ok(rows) => view! { <LiveJobsTable rows status/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{format!("Could not load the jobs: {e}")}</p> }.into_any(),
                }
            })}}
        </Suspense>
    }
}

#[component]
pub fn AdminJob() -> impl IntoView {
    let params = use_params_map();
    let id = params.with_untracked(|p| p.get("id")).unwrap_or_default();
    let job = Resource::new_blocking(move || id.clone(), admin_job);
    view! {
        <Title text="Job"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match job.await {
                    Ok((j, log)) => view! { <JobDetail job=j log/> }.into_any(),
                    Err(e) => view! {
                        <h1>"Job"</h1>
                        <p class="error" role="alert">{format!("Could not load this job: {e}")}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn JobDetail(job: JobRow, log: Vec<(i64, String, String)>) -> impl IntoView {
    let done = finished(&job.status);
    let last_seq = log.last().map(|(seq, _, _)| *seq).unwrap_or(0);
    let retryable = matches!(job.status.as_str(), "failed" | "cancelled");
    view! {
        <h1>{job.kind.clone()}</h1>
        <p class="muted">
            "Attempt " {job.attempt} " of " {job.max_attempts}
            {job.target.clone().map(|t| view! { " · " {t} })}
        </p>
        <LiveJob job_id=job.id.clone() status=job.status.clone() progress=job.progress
            label=job.progress_label.clone() after=last_seq/>
        {job.error_code.clone().map(|c| view! {
            <p class="error" data-testid="job-error"><strong>{c}</strong>": " {job.error_message.clone().unwrap_or_default()}</p>
        })}
        <div class="actions-row">
            {retryable.then(|| view! {
                <form method="post" action=format!("/admin/jobs/{}/retry", job.id) class="inline">
                    <button type="submit" class="button">"Retry"</button>
                </form>
            })}
            {(!done).then(|| view! {
                <form method="post" action=format!("/admin/jobs/{}/cancel", job.id) class="inline">
                    <button type="submit" class="button danger">"Cancel"</button>
                </form>
                <a class="button" href=format!("/admin/jobs/{}", job.id)>"Refresh"</a>
            })}
        </div>
        <h2>"Log"</h2>
        <pre class="log" data-testid="job-log">
            {log.into_iter().map(|(seq, stream, line)| view! {
                <span class=format!("log-line log-{stream}") data-seq=seq>{line}"\n"</span>
            }).collect_view()}
        </pre>
    }
}
