//! The routes, grouped by who may call them, assembled into one router whose OpenAPI document
//! is collected from the same registrations.

pub mod admin;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod responses;
pub mod schedules;
pub mod tenants;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{require_caller, require_metrics_reader, require_ops};
use crate::openapi;
use crate::problem::Problem;

/// The whole HTTP API, with `/openapi.json` served from what the routes declare.
pub fn router(state: AppState) -> Router {
    let (router, api) = api_router(state.clone()).split_for_parts();
    let api = openapi::finish(api, &state.registry, state.queue.name());
    router
        .merge(crate::ui::router(&state))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(api.clone()) }),
        )
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", None).into_response()
        })
        .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
        .with_state(state)
}

/// What a process without the API serves (`worker`, `scheduler`): `/healthz`, `/readyz` and
/// `/metrics`, so probes and Prometheus reach every process.
pub fn probe_router(state: AppState) -> Router {
    let metrics = Router::new()
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route_layer(from_fn_with_state(state.clone(), require_metrics_reader));
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .merge(metrics)
        .fallback(|| async { Problem::not_found("no such route") })
        .with_state(state)
}

/// The documented routes (everything but `/openapi.json` itself).
pub fn api_router(state: AppState) -> OpenApiRouter<AppState> {
    let open = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    let metrics = OpenApiRouter::new()
        .routes(routes!(metrics::metrics))
        .route_layer(from_fn_with_state(state.clone(), require_metrics_reader));
    let portal = OpenApiRouter::new()
        .routes(routes!(jobs::enqueue, jobs::list))
        .routes(routes!(jobs::get_job))
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::put_tenant, tenants::get_tenant))
        .routes(routes!(tenants::invite_operator))
        .routes(routes!(tenants::seed_recovery_flow))
        .route_layer(from_fn_with_state(state.clone(), require_caller));
    let ops = OpenApiRouter::new()
        .routes(routes!(admin::retry))
        .routes(routes!(admin::discard))
        .routes(routes!(admin::cancel))
        .routes(routes!(admin::queues))
        .routes(routes!(admin::pause))
        .routes(routes!(admin::resume))
        .routes(routes!(schedules::list_schedules))
        .routes(routes!(schedules::run_schedule))
        .route_layer(from_fn_with_state(state, require_ops));
    OpenApiRouter::with_openapi(openapi::base())
        .merge(open)
        .merge(metrics)
        .merge(portal)
        .merge(ops)
}

/// A page size as lists take it: 1..=500, default 50.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(50),
        Some(limit @ 1..=500) => Ok(limit),
        Some(_) => Err(Problem::unprocessable("limit must be between 1 and 500")),
    }
}

/// Parses a path id; an id that is not a ULID (optionally `.` and a queue) cannot exist.
pub(crate) fn job_id(raw: &str) -> Result<dezky_queue::JobId, Problem> {
    dezky_queue::JobId::parse(raw)
        .ok_or_else(|| Problem::not_found(format!("no job with id {raw}")))
}

/// The store, which tenant and schedule routes need.
pub(crate) fn store(state: &AppState) -> Result<&dezky_store::Store, Problem> {
    state.store.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Store unavailable",
            Some("this process has no store".into()),
        )
    })
}

/// A store failure as the caller sees it (503), logged.
pub(crate) fn store_failed(e: dezky_store::StoreError) -> Problem {
    tracing::warn!(error = %e, "store failed");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Store unavailable",
        Some("the store did not answer; try again".into()),
    )
}
