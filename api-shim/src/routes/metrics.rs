//! `/metrics`: the process's metrics as Prometheus text, for an ops token or the metrics token.
//! On the api role it adds the queue's depth, read at each scrape — `dezky_queue_jobs{queue,
//! state}`, `dezky_queue_paused{queue}` and `dezky_queue_oldest_available_age_seconds{queue}` —
//! which only the api role reports, so a `sum()` over
//! pods counts each job once.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::responses::NeedsQueue;
use crate::AppState;
use crate::problem::Problem;

/// Jobs in the queue, by `queue` and `state`.
pub const QUEUE_JOBS: &str = "dezky_queue_jobs";
/// 1 while `queue` is paused.
pub const QUEUE_PAUSED: &str = "dezky_queue_paused";

/// How long the available job of `queue` due longest has waited (0 when none is available).
pub const QUEUE_OLDEST_AVAILABLE_AGE: &str = "dezky_queue_oldest_available_age_seconds";

/// The process's metrics (Prometheus text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text", content_type = "text/plain", body = String),
        (status = 401, description = "Not an ops token or the metrics token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "This process serves no metrics", body = Problem, content_type = "application/problem+json"),
        NeedsQueue,
    ))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, Problem> {
    let Some(metrics) = &state.metrics else {
        return Err(Problem::not_found("this process serves no metrics"));
    };
    if metrics.queue_depth {
        for queue in state.queue.counts().await? {
            for (job_state, n) in &queue.counts {
                #[allow(clippy::cast_precision_loss, reason = "job counts fit an f64 exactly")]
                metrics::gauge!(QUEUE_JOBS, "queue" => queue.queue.clone(), "state" => job_state.as_str())
                    .set(*n as f64);
            }
            metrics::gauge!(QUEUE_PAUSED, "queue" => queue.queue.clone()).set(if queue.paused {
                1.0
            } else {
                0.0
            });
        }
        for queue in state.queue.activity(&[]).await? {
            let age = queue.oldest_available_age.unwrap_or_default();
            metrics::gauge!(QUEUE_OLDEST_AVAILABLE_AGE, "queue" => queue.queue)
                .set(age.as_secs_f64());
        }
    }
    let body = (metrics.render)();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
