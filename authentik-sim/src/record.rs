//! Recording of API exchanges — request body, status, response body, when it began and ended,
//! and the job attempt that sent it (the client's `X-Dezky-Job` header) — for contract tests
//! that validate both sides against Authentik's OpenAPI schema, and for tests that read the
//! request log job by job (jobs of one key never overlap).

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::Sim;

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// The request body, when there was one.
    pub request: Option<Value>,
    /// Status.
    pub status: u16,
    /// The response body, when there was one.
    pub response: Option<Value>,
    /// The job run that sent it (the client's `X-Dezky-Job`: `<job id>/<attempt>/<lease token>`
    /// from a worker), when the client said.
    pub job: Option<String>,
    /// When the request arrived, in microseconds since the simulator started.
    pub started_us: u64,
    /// When its answer was complete, in microseconds since the simulator started.
    pub finished_us: u64,
}

/// Recorded exchanges (recording is on when the simulator was started with `record`).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Exchange>>>);

impl Recorder {
    /// Everything recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn parse(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

/// Records the exchange when recording is on.
pub async fn record(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    if !sim.config.record {
        return next.run(request).await;
    }
    let since_start =
        |sim: &Sim| u64::try_from(sim.started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let started_us = since_start(&sim);
    let (parts, body) = request.into_parts();
    let job = parts
        .headers
        .get("x-dezky-job")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let (method, path) = (
        parts.method.to_string(),
        parts
            .uri
            .path_and_query()
            .map_or_else(String::new, ToString::to_string),
    );
    let request_body = parse(&bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    sim.recorder
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Exchange {
            method,
            path,
            request: request_body,
            status: parts.status.as_u16(),
            response: parse(&bytes),
            job,
            started_us,
            finished_us: since_start(&sim),
        });
    Response::from_parts(parts, Body::from(bytes))
}
