//! The HTTP shim of Dezky Jobs (axum): the portal enqueues jobs and polls them; operators
//! search, retry, discard, cancel and pause. Every failure answers `application/problem+json`
//! ([`problem`]); bad input is always a 4xx. Callers authenticate with Bearer tokens
//! ([`auth`]): portal tokens for `/v1/jobs`, ops tokens for admin routes. The OpenAPI document
//! is generated from the routes themselves ([`openapi`]), so it cannot drift from them.

pub mod auth;
pub mod dto;
pub mod extract;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod ui;

use std::sync::Arc;

use dezky_jobs::Registry;
use dezky_queue::DynQueue;

pub use auth::{TokenSet, Tokens};
pub use routes::{probe_router, router};

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The queue.
    pub queue: DynQueue,
    /// The kinds callers may enqueue.
    pub registry: Arc<Registry>,
    /// Who may call.
    pub tokens: Arc<Tokens>,
    /// Where secret results are sealed (shown to their enqueuer only).
    pub secrets: Option<dezky_store::SecretVault>,
    /// The store (tenants).
    pub store: Option<dezky_store::Store>,
    /// The queue's tables, when they are in the store's database: a route's store writes and its
    /// push then commit in one transaction.
    pub shared_db: Option<dezky_queue::InDatabase>,
    /// What `/metrics` shows, when this process serves it.
    pub metrics: Option<Metrics>,
}

/// This process's metrics, as `/metrics` serves them.
#[derive(Clone)]
pub struct Metrics {
    /// Renders every metric recorded in the process, as Prometheus text.
    pub render: Arc<dyn Fn() -> String + Send + Sync>,
    /// Whether to add the queue's depth by state, read at each scrape: on the api role only, so
    /// a `sum()` over pods counts each job once.
    pub queue_depth: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("queue_depth", &self.queue_depth)
            .finish_non_exhaustive()
    }
}
