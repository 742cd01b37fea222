//! Liveness and readiness probes (no authentication).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::dto::Health;
use crate::problem::Problem;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// The queue and store answer.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, description = "The queue or store does not answer", body = Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, Problem> {
    state.queue.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            Some("the queue does not answer".into()),
        )
    })?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}
