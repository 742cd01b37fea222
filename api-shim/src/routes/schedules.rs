//! Ops routes over the cron schedules, answered from the store (the schedulers write each
//! schedule's configuration and ticks there), so any API process answers without the
//! schedulers' configuration: the list, and running one now.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::responses::{NeedsOpsToken, NeedsQueue};
use super::{store, store_failed};
use crate::AppState;
use crate::dto::Enqueued;
use crate::problem::Problem;

/// A schedule as the schedulers left it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// Its name (`seed`, `reconcile`).
    pub name: String,
    /// The kind its ticks enqueue.
    pub kind: String,
    /// Its cron expression (UTC).
    pub expression: String,
    /// The newest tick dealt with (ms since the epoch).
    pub last_tick: Option<i64>,
    /// What that tick did: `enqueued`, `skipped` (the previous job was unfinished), `missed`
    /// (no scheduler ran then), `baseline` (the schedule's start).
    pub last_outcome: Option<String>,
    /// The next tick.
    pub next_tick: Option<i64>,
    /// The newest job a tick or a run-now enqueued, and its state.
    pub last_job: Option<ScheduleJob>,
}

/// A schedule's newest job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleJob {
    /// Its id.
    pub id: String,
    /// Its state (`pruned` once retention removed it).
    pub state: String,
}

/// Every schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// By name.
    pub schedules: Vec<ScheduleView>,
}

/// The schedules: expression, last and next tick, last job and its state.
#[utoipa::path(get, path = "/v1/schedules", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ScheduleList), NeedsOpsToken, NeedsQueue))]
pub async fn list_schedules(State(state): State<AppState>) -> Result<Json<ScheduleList>, Problem> {
    Ok(Json(ScheduleList {
        schedules: schedule_views(&state).await?,
    }))
}

/// Every schedule, with its newest job's state (the dashboard shows the same).
pub(crate) async fn schedule_views(state: &AppState) -> Result<Vec<ScheduleView>, Problem> {
    let rows = store(state)?.schedules().await.map_err(store_failed)?;
    let mut schedules = Vec::with_capacity(rows.len());
    for row in rows {
        let last_job = match &row.last_job {
            None => None,
            Some(id) => {
                let job = state.queue.get(&dezky_queue::JobId(id.clone())).await?;
                Some(ScheduleJob {
                    id: id.clone(),
                    state: job.map_or_else(|| "pruned".into(), |j| j.state.to_string()),
                })
            }
        };
        schedules.push(ScheduleView {
            name: row.name,
            kind: row.kind,
            expression: row.expression,
            last_tick: row.last_tick,
            last_outcome: row.last_outcome,
            next_tick: row.next_tick,
            last_job,
        });
    }
    Ok(schedules)
}

/// Run a schedule now. Deduplicated like a tick: while the job of an earlier run-now is
/// unfinished, asking again answers that job (`Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/v1/schedules/{name}/run", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, pattern = "^[a-z0-9-]{1,63}$", description = "The schedule")),
    responses(
        (status = 202, description = "Enqueued", body = Enqueued),
        (status = 404, description = "No such schedule", body = Problem, content_type = "application/problem+json"),
        NeedsOpsToken, NeedsQueue,
    ))]
pub async fn run_schedule(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let (id, replayed) = run_now(&state, &name).await?;
    Ok(super::jobs::accepted(&id, replayed))
}

/// Runs schedule `name` now: its job's id, and whether an unfinished earlier one answered.
pub(crate) async fn run_now(state: &AppState, name: &str) -> Result<(String, bool), Problem> {
    let store = store(state)?;
    match dezky_scheduler::run_now(&state.queue, store, &dezky_queue::SystemClock, name).await {
        Ok(done) => Ok(done),
        Err(dezky_scheduler::ScheduleError::Unknown(_)) => {
            Err(Problem::not_found(format!("no schedule `{name}`")))
        }
        Err(dezky_scheduler::ScheduleError::Queue(e)) => Err(e.into()),
        Err(dezky_scheduler::ScheduleError::Store(e)) => Err(store_failed(e)),
    }
}
