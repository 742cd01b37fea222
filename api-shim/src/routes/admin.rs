//! Ops routes: retry now, discard, cancel, queue counts, pause and resume.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};

use super::responses::{JsonBodyErrors, NeedsOpsToken, NeedsQueue, StateChange};
use crate::AppState;
use crate::auth::Caller;
use crate::dto::{DiscardRequest, JobView, QueueList, QueueView};
use crate::extract::OptionalJsonBody;
use crate::problem::Problem;

/// Make a scheduled, dead or cancelled job available now.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses((status = 200, body = JobView), StateChange, NeedsOpsToken, NeedsQueue))]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let id = super::job_id(&id)?;
    Ok(Json(state.queue.retry_now(&id).await?.into()))
}

/// Move an unfinished job to `dead`, recording why.
#[utoipa::path(post, path = "/v1/jobs/{id}/discard", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    request_body(content = Option<DiscardRequest>, description = "Optional reason"),
    responses((status = 200, body = JobView), StateChange, JsonBodyErrors, NeedsOpsToken, NeedsQueue))]
pub async fn discard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<DiscardRequest>,
) -> Result<Json<JobView>, Problem> {
    let id = super::job_id(&id)?;
    let why = body
        .and_then(|b| b.reason)
        .unwrap_or_else(|| "no reason given".into());
    let reason = format!("discarded by {}: {why}", caller.name);
    Ok(Json(state.queue.discard(&id, &reason).await?.into()))
}

/// Cancel a queued job, or ask a running one to stop.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Cancelled, or cancellation requested (`cancel_requested`)", body = JobView),
        StateChange, NeedsOpsToken, NeedsQueue,
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let id = super::job_id(&id)?;
    Ok(Json(state.queue.cancel(&id).await?.into()))
}

/// Counts per queue and state.
#[utoipa::path(get, path = "/v1/queues", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = QueueList), NeedsOpsToken, NeedsQueue))]
pub async fn queues(State(state): State<AppState>) -> Result<Json<QueueList>, Problem> {
    let counts = state.queue.counts().await?;
    Ok(Json(QueueList {
        queues: counts.into_iter().map(QueueView::from).collect(),
    }))
}

/// Stop workers fetching from a queue.
#[utoipa::path(post, path = "/v1/queues/{queue}/pause", tag = "admin", security(("bearer" = [])),
    params(("queue" = String, Path, description = "The queue", pattern = "^[A-Za-z0-9_.:-]{1,100}$")),
    responses((status = 200, body = QueueView),
        (status = 422, description = "Not a queue name", body = Problem, content_type = "application/problem+json"),
        NeedsOpsToken, NeedsQueue))]
pub async fn pause(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> Result<Json<QueueView>, Problem> {
    set_paused(&state, &queue, true).await
}

/// Let workers fetch from a queue again.
#[utoipa::path(post, path = "/v1/queues/{queue}/resume", tag = "admin", security(("bearer" = [])),
    params(("queue" = String, Path, description = "The queue", pattern = "^[A-Za-z0-9_.:-]{1,100}$")),
    responses((status = 200, body = QueueView),
        (status = 422, description = "Not a queue name", body = Problem, content_type = "application/problem+json"),
        NeedsOpsToken, NeedsQueue))]
pub async fn resume(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> Result<Json<QueueView>, Problem> {
    set_paused(&state, &queue, false).await
}

async fn set_paused(
    state: &AppState,
    queue: &str,
    paused: bool,
) -> Result<Json<QueueView>, Problem> {
    if paused {
        state.queue.pause(queue).await?;
    } else {
        state.queue.resume(queue).await?;
    }
    let view = state
        .queue
        .counts()
        .await?
        .into_iter()
        .find(|c| c.queue == queue)
        .map(QueueView::from)
        .unwrap_or_else(|| QueueView {
            queue: queue.to_owned(),
            paused,
            counts: Default::default(),
        });
    Ok(Json(view))
}
