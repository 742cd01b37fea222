//! What a handler knows about the attempt it runs: ids, attempt numbers, and whether — and why —
//! it is asked to stop; the application's services; the children it enqueued.

use std::sync::Arc;

use tokio::sync::watch;

use crate::children::{Children, new_children};
use crate::services::Services;

/// Why a handler is asked to stop. Only [`StopReason::Cancel`] lets it end the job `cancelled`
/// (by answering [`JobError::Cancelled`](crate::JobError::Cancelled)); the worker records the
/// other two itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// An operator asked to cancel the job.
    Cancel,
    /// The worker could not keep the job's lease (it expired, or could not be renewed in time):
    /// another worker may run the job now. The worker stops the handler itself, without waiting
    /// for an answer, and records nothing; the job's rescue decides what happens.
    LeaseLost,
    /// The process is shutting down. A handler that stops early answers
    /// [`JobError::Cancelled`](crate::JobError::Cancelled); the worker gives the job back with the
    /// attempt refunded.
    Shutdown,
}

/// The attempt being run.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's id.
    pub id: String,
    /// The job's kind.
    pub kind: String,
    /// This attempt, 1-based.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// Becomes `Some(reason)` when the handler should stop.
    pub stop: watch::Receiver<Option<StopReason>>,
    /// What the application provides: the Authentik client, the store, child jobs.
    pub services: Services,
    /// The child jobs this attempt enqueued.
    pub children: Arc<Children>,
}

impl JobContext {
    /// Why the handler should stop, if it should.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop.borrow()
    }

    /// Resolves with the reason once the handler should stop (never, if nobody asks).
    pub async fn stopped(&self) -> StopReason {
        self.stop_when(|_| true).await
    }

    /// Resolves once an operator asked to cancel the job (never otherwise): for handlers that
    /// finish what they started at shutdown.
    pub async fn cancelled(&self) {
        self.stop_when(|r| r == StopReason::Cancel).await;
    }

    /// The first stop reason that `wanted` accepts; never, if none comes.
    async fn stop_when(&self, wanted: impl Fn(StopReason) -> bool) -> StopReason {
        let mut rx = self.stop.clone();
        let reason = rx.wait_for(|r| r.is_some_and(&wanted)).await.map(|r| *r);
        match reason {
            Ok(Some(reason)) => reason,
            // The sender is gone: nobody can ask any more.
            _ => std::future::pending().await,
        }
    }

    /// A context for tests and tools that run a handler outside a worker.
    pub fn detached(kind: &str) -> (Self, watch::Sender<Option<StopReason>>) {
        let (tx, rx) = watch::channel(None);
        let ctx = Self {
            id: "detached".into(),
            kind: kind.into(),
            attempt: 1,
            max_attempts: 1,
            tenant: None,
            stop: rx,
            services: Services::default(),
            children: new_children(),
        };
        (ctx, tx)
    }
}
