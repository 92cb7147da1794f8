//! mpanel §10 CloudPods (list, get, create, suspend, delete) and the
//! actions the contract file documents as extensions (unsuspend, start,
//! stop, reboot). Each change answers the pod and the job that carries it
//! out; core authorizes (operators; a customer may start, stop and reboot
//! its own).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use mooring_core::{
    billing,
    cloudpods::{self, PodInput},
    identity::Principal,
    jobs,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::Caller,
    error::{checked_page, ApiError, ApiJson, ApiQuery},
    jobs::job_json,
};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    customer_id: Option<String>,
    status: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = checked_page(q.page, q.page_size)?;
    let v = billing::viewer(&state.db, &p).await?;
    let (items, total) = cloudpods::list(
        &state.db,
        &v,
        q.customer_id.as_deref(),
        q.status.as_deref(),
        page,
    )
    .await?;
    Ok(Json(json!({
        "items": items.iter().map(cloudpods::CloudPod::to_json).collect::<Vec<_>>(),
        "total": total,
    })))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = billing::viewer(&state.db, &p).await?;
    Ok(Json(cloudpods::get(&state.db, &v, &id).await?.to_json()))
}

async fn operation(
    state: &AppState,
    p: &Principal,
    status: StatusCode,
    pod: cloudpods::CloudPod,
    job: String,
) -> Result<Response, ApiError> {
    // The caller asked for this job: it may see it (customers included).
    let _ = p;
    let job = jobs::load(&state.db, &job).await?;
    Ok((
        status,
        Json(json!({ "cloudPod": pod.to_json(), "job": job_json(&job) })),
    )
        .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<PodInput>,
) -> Result<Response, ApiError> {
    let v = billing::viewer(&state.db, &p).await?;
    let (pod, job) = cloudpods::create(&state.db, &v, &p.user_id, body).await?;
    operation(&state, &p, StatusCode::CREATED, pod, job).await
}

async fn act(
    state: AppState,
    p: Principal,
    id: String,
    action: &str,
) -> Result<Response, ApiError> {
    let v = billing::viewer(&state.db, &p).await?;
    let (pod, job) = cloudpods::act(&state.db, &v, &p.user_id, &id, action).await?;
    operation(&state, &p, StatusCode::ACCEPTED, pod, job).await
}

macro_rules! action {
    ($name:ident, $action:literal) => {
        #[doc = concat!("`POST /api/cloudpods/{id}/", $action, "`.")]
        pub async fn $name(
            State(state): State<AppState>,
            Caller(p): Caller,
            Path(id): Path<String>,
        ) -> Result<Response, ApiError> {
            act(state, p, id, $action).await
        }
    };
}

action!(suspend, "suspend");
action!(unsuspend, "unsuspend");
action!(start, "start");
action!(stop, "stop");
action!(reboot, "reboot");

pub async fn delete(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    act(state, p, id, "destroy").await
}
