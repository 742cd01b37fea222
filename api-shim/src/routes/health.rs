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
        gates: None,
    })
}

/// The queue answers (readiness depends on nothing else: the portal keeps enqueuing while a
/// dependency is down). The body shows each dependency gate: `closed` while the dependency is
/// unreachable and its jobs wait.
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
    let mut gates = std::collections::BTreeMap::new();
    let needed = state.registry.kinds().flat_map(|k| k.settings().needs);
    for dependency in needed.collect::<std::collections::BTreeSet<_>>() {
        let shown = match state.queue.lock_held(&dependency.gate_key()).await {
            Ok(true) => "closed",
            Ok(false) => "open",
            Err(_) => "unknown",
        };
        gates.insert(dependency.name().to_owned(), shown.to_owned());
    }
    Ok(Json(Health {
        status: "ready".into(),
        gates: Some(gates),
    }))
}
