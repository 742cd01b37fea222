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

use std::sync::Arc;

use dezky_jobs::Registry;
use dezky_queue::DynQueue;

pub use auth::{TokenSet, Tokens};
pub use routes::router;

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
}
