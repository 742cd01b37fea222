//! Injectable faults, set at start and changed at runtime through the admin endpoint. Randomness
//! is seeded, so a failing run reproduces.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::Sim;
use super::server::KillSwitch;
use super::util::detail;

/// How a down Authentik looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Down {
    /// Connections refused, like a dead host.
    Refuse,
    /// Accepted, answered 503 and counted, like a proxy in front of a dead app.
    Unavailable,
}

/// The faults in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Down, and how.
    pub down: Option<Down>,
    /// Fixed latency added to every request, ms.
    pub latency_ms: u64,
    /// Random extra latency, up to this many ms.
    pub jitter_ms: u64,
    /// Share of requests answered with a 5xx (0.0–1.0).
    pub error_rate: f64,
    /// Answer every request 429 with this `Retry-After` (seconds).
    pub rate_limit_retry_after: Option<u64>,
    /// Share of writes applied and then cut off before the answer (0.0–1.0).
    pub reset_after_commit_rate: f64,
    /// Cut off the write of this number (1-based, counting the writes applied since these
    /// faults were set) after it applied: with each number in turn, every write of a job is
    /// cut off once.
    pub reset_write_number: Option<u64>,
    /// Send response bodies slowly: this many ms between 16-byte chunks.
    pub slow_body_ms: u64,
}

/// Faults, the seeded generator and the counters.
#[derive(Debug)]
pub struct FaultState {
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    /// Requests answered 503 while `unavailable`.
    pub unavailable_answers: AtomicU64,
    /// Writes applied and then cut off.
    pub resets: AtomicU64,
    /// Writes applied since the faults were last set.
    pub writes: AtomicU64,
    /// API requests received, per second since the epoch (down or not), for tests that bound
    /// how often Authentik is asked.
    pub per_second: Mutex<std::collections::BTreeMap<u64, u64>>,
    /// Tells the accept loop whether to refuse connections.
    pub refusing: tokio::sync::watch::Sender<bool>,
}

impl FaultState {
    /// Faults as given, randomness from `seed`.
    pub fn new(faults: Faults, seed: u64) -> Self {
        let refusing = tokio::sync::watch::channel(faults.down == Some(Down::Refuse)).0;
        Self {
            faults: Mutex::new(faults),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            unavailable_answers: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            per_second: Mutex::default(),
            refusing,
        }
    }

    /// The faults in force.
    pub fn get(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the faults.
    pub fn set(&self, faults: Faults) {
        self.refusing
            .send_replace(faults.down == Some(Down::Refuse));
        let mut current = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        self.writes.store(0, Ordering::SeqCst);
        *current = faults;
    }

    /// Counts a request in the current second.
    fn count_request(&self) {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        *self
            .per_second
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(second)
            .or_default() += 1;
    }

    /// Requests per second since the epoch, and the busiest second's count.
    pub fn stats(&self) -> (std::collections::BTreeMap<u64, u64>, u64) {
        let counts = self
            .per_second
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let busiest = counts.values().copied().max().unwrap_or(0);
        (counts, busiest)
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random::<f64>()
                < p
    }

    fn jitter(&self, max_ms: u64) -> u64 {
        if max_ms == 0 {
            0
        } else {
            self.rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random_range(0..=max_ms)
        }
    }
}

/// Applies the faults to an API request.
pub async fn inject(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    sim.faults.count_request();
    let faults = sim.faults.get();
    if faults.down == Some(Down::Unavailable) {
        sim.faults
            .unavailable_answers
            .fetch_add(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream").into_response();
    }
    let delay = faults.latency_ms + sim.faults.jitter(faults.jitter_ms);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(after) = faults.rate_limit_retry_after {
        let mut response = detail(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Request was throttled. Expected available in {after} seconds."),
        );
        if let Ok(v) = HeaderValue::from_str(&after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    if sim.faults.chance(faults.error_rate) {
        let status = if sim.faults.chance(0.5) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_GATEWAY
        };
        return (status, Body::empty()).into_response();
    }
    let write = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let kill = request.extensions().get::<KillSwitch>().cloned();
    let response = next.run(request).await;
    let applied = write && response.status().is_success();
    let number = if applied {
        sim.faults.writes.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if applied
        && (sim.faults.chance(faults.reset_after_commit_rate)
            || faults.reset_write_number == Some(number))
        && let Some(kill) = kill
    {
        {
            // The write is applied; drop the connection before the answer leaves.
            sim.faults.resets.fetch_add(1, Ordering::SeqCst);
            kill.trigger();
            std::future::pending::<()>().await;
        }
    }
    if faults.slow_body_ms > 0 {
        return slow(response, Duration::from_millis(faults.slow_body_ms)).await;
    }
    response
}

async fn slow(response: Response, pause: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, Body::empty()).into_response();
    };
    let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = bytes
        .chunks(16)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures::stream::iter(chunks).then(move |chunk| async move {
        tokio::time::sleep(pause).await;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
