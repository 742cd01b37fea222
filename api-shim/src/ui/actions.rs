//! The dashboard's actions, each a form posted with the session's CSRF token: on a job (retry
//! now, cancel, discard, delete), on a queue (pause, resume), on dead jobs in bulk, and running a
//! schedule now. Each is recorded in the store's audit with the ops token's name; a request
//! without a valid CSRF token changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use dezky_queue::{BulkAction, JobId, QueueError};
use minijinja::context;
use serde::Deserialize;

use super::pages::BulkQuery;
use super::session::Signed;
use super::templates::page;
use super::views::base;
use super::{Ui, now_ms, problem_page};
use crate::AppState;
use crate::problem::Problem;

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

/// Dead jobs one bulk call touches at most (a batch).
pub const BULK_BATCH: usize = 100;
/// How long one bulk request goes on with batches before it answers (it can be run again).
pub const BULK_BUDGET: Duration = Duration::from_secs(10);

/// The answer to an action without a valid CSRF token.
pub fn csrf_refused() -> Response {
    problem_page(Problem::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        Some(
            "this form is stale or did not come from the dashboard: reload the page and try again"
                .into(),
        ),
    ))
}

#[allow(
    clippy::result_large_err,
    reason = "the handler's early answer, made at most once per request"
)]
fn check(ui: &Ui, signed: &Signed, csrf: &str) -> Result<(), Response> {
    if ui.key.csrf_ok(&signed.session, csrf) {
        Ok(())
    } else {
        tracing::warn!(operator = %signed.session.name, "dashboard action without a valid CSRF token");
        Err(csrf_refused())
    }
}

/// Records an action done; if the record fails, says so (the action stands).
async fn record(
    state: &AppState,
    signed: &Signed,
    action: &str,
    target: &str,
    detail: String,
) -> Result<(), Response> {
    tracing::info!(operator = %signed.session.name, action, target, %detail, "dashboard action");
    let Some(store) = &state.store else {
        return Ok(());
    };
    let entry = dezky_store::AuditEntry {
        at: now_ms(),
        actor: signed.session.name.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    };
    store.record_action(&entry).await.map_err(|e| {
        tracing::error!(error = %e, action, target, "dashboard action not recorded in the audit");
        problem_page(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Done, but not recorded",
            Some(format!(
                "the {action} on {target} was done, but the store did not record it in the audit"
            )),
        ))
    })
}

/// `POST /ui/jobs/{id}/{action}`: `retry`, `cancel`, `discard` or `delete`.
pub async fn job_action(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<Ui>>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    check(&ui, &signed, &form.csrf)?;
    let Some(job_id) = JobId::parse(&id) else {
        return Err(problem_page(Problem::not_found(format!(
            "no job with id {id}"
        ))));
    };
    let q = &state.queue;
    let done: Result<String, QueueError> = match action.as_str() {
        "retry" => q
            .retry_now(&job_id)
            .await
            .map(|j| format!("now {}", j.state)),
        "cancel" => q.cancel(&job_id).await.map(|j| match j.cancel_requested {
            true => "cancel requested while it runs".to_owned(),
            false => format!("now {}", j.state),
        }),
        "discard" => {
            let reason = format!("discarded by {} from the dashboard", signed.session.name);
            q.discard(&job_id, &reason)
                .await
                .map(|j| format!("now {}", j.state))
        }
        "delete" => q
            .delete(&job_id)
            .await
            .map(|j| format!("deleted ({})", j.state)),
        _ => {
            return Err(problem_page(Problem::not_found(format!(
                "no action `{action}`"
            ))));
        }
    };
    let detail = done.map_err(|e| problem_page(e.into()))?;
    record(&state, &signed, &action, &job_id.0, detail).await?;
    Ok(Redirect::to(&format!("/ui/jobs/{}", job_id.0)).into_response())
}

/// `POST /ui/queues/{queue}/{action}`: `pause` or `resume`.
pub async fn queue_action(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<Ui>>,
    signed: Signed,
    Path((queue, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    check(&ui, &signed, &form.csrf)?;
    let done = match action.as_str() {
        "pause" => state.queue.pause(&queue).await,
        "resume" => state.queue.resume(&queue).await,
        _ => {
            return Err(problem_page(Problem::not_found(format!(
                "no action `{action}`"
            ))));
        }
    };
    done.map_err(|e| problem_page(e.into()))?;
    record(
        &state,
        &signed,
        &action,
        &format!("queue:{queue}"),
        format!("{action}d"),
    )
    .await?;
    Ok(Redirect::to("/ui/").into_response())
}

/// The bulk form: the CSRF token and the action with its filter.
#[derive(Debug, Deserialize)]
pub struct BulkForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    bulk: BulkQuery,
}

/// `POST /ui/bulk`: retries or deletes the matching dead jobs, batch by batch, until none is
/// left or the request's time is up; says how many it touched.
pub async fn bulk(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<Ui>>,
    signed: Signed,
    Form(form): Form<BulkForm>,
) -> Result<Response, Response> {
    check(&ui, &signed, &form.csrf)?;
    let query = form.bulk;
    let (action, verb) = query.action().map_err(problem_page)?;
    let mut filter = query.filter().map_err(problem_page)?;
    let started = Instant::now();
    let (mut touched, mut more) = (0, false);
    loop {
        let done = state
            .queue
            .bulk_dead(action, filter.clone(), BULK_BATCH)
            .await
            .map_err(|e| problem_page(e.into()))?;
        touched += done.touched;
        match done.next_cursor {
            None => break,
            Some(_) if started.elapsed() >= BULK_BUDGET => {
                more = true;
                break;
            }
            Some(cursor) => filter.cursor = Some(cursor),
        }
    }
    let describe = query.describe();
    let past = match action {
        BulkAction::Retry => "Retried",
        BulkAction::Delete => "Deleted",
    };
    let mut message = format!(
        "{past} {} ({describe}).",
        super::views::count(touched, "dead job")
    );
    if more {
        message.push_str(" Stopped when its time was up: more may match; run it again.");
    }
    let target = match query.search.queue.trim() {
        "" => "dead jobs".to_owned(),
        queue => format!("queue:{queue}"),
    };
    let name = format!("bulk-{}", query.action);
    record(
        &state,
        &signed,
        &name,
        &target,
        format!("{touched} jobs; {describe}"),
    )
    .await?;
    let back = query.back();
    Ok(page(
        StatusCode::OK,
        "bulk.html",
        context! {
            verb => verb,
            describe => describe,
            done => message,
            back => back,
            ..base(&signed, "Bulk action", "jobs")
        },
    ))
}

/// `POST /ui/schedules/{name}/run`.
pub async fn run_schedule(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<Ui>>,
    signed: Signed,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Response> {
    check(&ui, &signed, &form.csrf)?;
    let (id, replayed) = crate::routes::schedules::run_now(&state, &name)
        .await
        .map_err(problem_page)?;
    let detail = if replayed {
        format!("job {id} still unfinished: not enqueued again")
    } else {
        format!("enqueued job {id}")
    };
    record(
        &state,
        &signed,
        "run-now",
        &format!("schedule:{name}"),
        detail,
    )
    .await?;
    Ok(Redirect::to("/ui/schedules").into_response())
}
