//! `GET /admin/version/`, `GET /managed/blueprints/`, and the simulator's own endpoints, with
//! the admin token: faults (`GET`/`PUT /_sim/faults`), request counts (`GET /_sim/stats`) and
//! the mails sent (`GET /_sim/outbox`).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use secrecy::ExposeSecret;
use serde_json::json;

use super::Pairs;
use crate::Sim;
use crate::faults::Faults;
use crate::util::{detail, ok};

pub async fn version(State(sim): State<Sim>) -> Response {
    ok(json!({
        "version_current": sim.config.version, "version_latest": sim.config.version, "version_latest_valid": true,
        "build_hash": "", "outdated": false, "outpost_outdated": false,
    }))
}

pub async fn list_blueprints(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.blueprints, &["name"])
}

fn admin_allowed(sim: &Sim, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", sim.config.admin_token.expose_secret());
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

fn report(sim: &Sim) -> Response {
    ok(json!({
        "faults": sim.faults.get(),
        "unavailable_answers": sim.faults.unavailable_answers.load(Ordering::SeqCst),
        "resets": sim.faults.resets.load(Ordering::SeqCst),
    }))
}

pub async fn get_faults(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    if !admin_allowed(&sim, &headers) {
        return detail(StatusCode::FORBIDDEN, "admin token required");
    }
    report(&sim)
}

/// `GET /_sim/stats` (admin token): API requests received per second (keys: seconds since the
/// epoch), their total and the busiest second.
pub async fn get_stats(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    if !admin_allowed(&sim, &headers) {
        return detail(StatusCode::FORBIDDEN, "admin token required");
    }
    let (per_second, busiest) = sim.faults.stats();
    ok(json!({
        "total": per_second.values().sum::<u64>(),
        "busiest_second": busiest,
        "per_second": per_second.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
    }))
}

/// `GET /_sim/outbox` (admin token): the mails email stages sent, oldest first.
pub async fn get_outbox(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    if !admin_allowed(&sim, &headers) {
        return detail(StatusCode::FORBIDDEN, "admin token required");
    }
    ok(json!({ "mails": sim.outbox() }))
}

pub async fn put_faults(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    if !admin_allowed(&sim, &headers) {
        return detail(StatusCode::FORBIDDEN, "admin token required");
    }
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            sim.faults.set(faults);
            report(&sim)
        }
        Err(e) => detail(StatusCode::BAD_REQUEST, &format!("bad faults: {e}")),
    }
}
