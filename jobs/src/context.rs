//! What a handler knows about the attempt it runs: ids, attempt numbers, and whether someone
//! asked it to stop.

use tokio::sync::watch;

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
    /// Becomes `true` when cancellation is requested or the lease is lost.
    pub cancel: watch::Receiver<bool>,
}

impl JobContext {
    /// Whether the handler should stop now.
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once the handler should stop (never, if nobody asks).
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            // The sender is gone: nobody can ask any more.
            std::future::pending::<()>().await;
        }
    }

    /// A context for tests and tools that run a handler outside a worker.
    pub fn detached(kind: &str) -> (Self, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        let ctx = Self {
            id: "detached".into(),
            kind: kind.into(),
            attempt: 1,
            max_attempts: 1,
            tenant: None,
            cancel: rx,
        };
        (ctx, tx)
    }
}
