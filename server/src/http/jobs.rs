//! `/api/jobs` (shared by the mpanel and wp contracts: one handler, the
//! union of both job shapes).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::{
    jobs::{self, Job, JobFilter},
    CoreError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiQuery},
};
use crate::state::AppState;

/// A job in both contracts' words.
pub fn job_json(j: &Job) -> Value {
    json!({
        "id": j.id,
        "status": j.status,
        "error_code": j.error_code,
        "error_message": j.error_message,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "tenantId": j.tenant_id,
        "type": j.kind,
        "targetType": j.target_type,
        "targetId": j.target_id,
        "createdAt": j.created_at,
        "updatedAt": j.updated_at,
        "progress": { "percent": j.progress, "label": j.progress_label },
        "attempt": j.attempt,
        "maxAttempts": j.max_attempts,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    target_id: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /api/jobs`: the tenant's jobs, newest first, filtered and paged.
pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let filter = JobFilter {
        status: q.status,
        kind: q.kind,
        target_id: q.target_id,
    };
    let (items, total) = jobs::list(&state.db, &p, &filter, page).await?;
    Ok(Json(
        json!({ "items": items.iter().map(job_json).collect::<Vec<_>>(), "total": total }),
    ))
}

/// `GET /api/jobs/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(job_json(&jobs::get(&state.db, &p, &id).await?)))
}

fn not_in_state(e: CoreError, code: &'static str) -> ApiError {
    match e {
        CoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, code, m),
        other => other.into(),
    }
}

/// `POST /api/jobs/{id}/retry`: 202 with the queued job; 409 unless failed or cancelled.
pub async fn retry(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = jobs::retry(&state.db, &p, &id)
        .await
        .map_err(|e| not_in_state(e, "job_not_retryable"))?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&job))).into_response())
}

/// `POST /api/jobs/{id}/cancel` (documented extension): 202; 409 when already finished.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = jobs::cancel(&state.db, &p, &id)
        .await
        .map_err(|e| not_in_state(e, "job_finished"))?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&job))).into_response())
}

#[derive(Deserialize, Default)]
pub struct EventsQuery {
    after: Option<i64>,
}

/// `GET /api/jobs/{id}/events` (documented extension): Server-Sent Events
/// with the job's progress (`job`), each new log line (`log`), and `end`
/// once it has finished. Polls the database, so any worker process's
/// progress shows up here.
pub async fn events(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let first = jobs::get(&state.db, &p, &id).await?;
    // A reconnecting EventSource says where it was; a page that already
    // shows some lines says so with `?after=`.
    let mut last_seq: i64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(q.after)
        .unwrap_or(0);
    let db = state.db.clone();
    let stream = async_stream::stream! {
        let mut last_update = String::new();
        let mut job = first;
        loop {
            if job.updated_at != last_update {
                last_update = job.updated_at.clone();
                yield Ok(Event::default().event("job").data(job_json(&job).to_string()));
            }
            match jobs::log_lines(&db, &job.id, last_seq).await {
                Ok(lines) => {
                    for l in lines {
                        last_seq = l.seq;
                        yield Ok(Event::default().event("log").id(l.seq.to_string()).data(
                            serde_json::json!({ "seq": l.seq, "at": l.at, "stream": l.stream, "line": l.line }).to_string(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "job log stream"),
            }
            if matches!(job.status.as_str(), "succeeded" | "failed" | "cancelled") {
                yield Ok(Event::default().event("end").data(job_json(&job).to_string()));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            match jobs::load(&db, &job.id).await {
                Ok(j) => job = j,
                Err(e) => {
                    tracing::warn!(error = %e, "job stream");
                    break;
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
