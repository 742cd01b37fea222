//! Batched completions. Each worker's ack layer hands its outcomes to one task, which sends
//! whatever has queued up since its last call as one `complete_many` — under load many acks per
//! round trip (one transaction on SQLite, one script call on Redis), when idle a batch of one, so
//! batching never waits. A store outage is retried briefly with backoff; past that each attempt
//! hears the error and its lease expiry brings the job back. The task, not the caller, tells the
//! [`LeaseKeeper`] a lease is gone once its ack is answered, so an ack whose caller was dropped
//! (a forced shutdown) still finishes, and its lease is never released meanwhile.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use dezky_queue::{DynQueue, JobState, Lease, Outcome, QueueError};
use tokio::sync::{mpsc, oneshot};

use crate::lease_keeper::LeaseKeeper;

/// Most completions sent in one call.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<JobState, QueueError>>;

/// A handle on a worker's completion task; clones share it.
#[derive(Debug, Clone)]
pub struct AckBatcher {
    tx: mpsc::UnboundedSender<(Lease, Outcome, Reply)>,
}

impl AckBatcher {
    /// Starts the completion task for `queue`; it ends when every handle is dropped.
    pub fn spawn(queue: DynQueue, keeper: LeaseKeeper) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(queue, keeper, rx));
        Self { tx }
    }

    /// Completes one attempt (fenced by its lease), batched with whatever else is waiting.
    pub async fn complete(&self, lease: Lease, outcome: Outcome) -> Result<JobState, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((lease, outcome, reply))
            .map_err(|_| QueueError::Storage("the completion task has stopped".into()))?;
        answer
            .await
            .map_err(|_| QueueError::Storage("the completion task dropped an attempt".into()))?
    }
}

async fn run(
    queue: DynQueue,
    keeper: LeaseKeeper,
    mut rx: mpsc::UnboundedReceiver<(Lease, Outcome, Reply)>,
) {
    let mut buffer = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buffer, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<(Lease, Outcome)>, Vec<Reply>) = buffer
            .drain(..)
            .map(|(lease, outcome, reply)| ((lease, outcome), reply))
            .unzip();
        let answers = (|| queue.complete_many(&items))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_times(5),
            )
            .when(|e| matches!(e, QueueError::Storage(_)))
            .await;
        for (lease, _) in &items {
            keeper.done(lease);
        }
        match answers {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(QueueError::Storage(e.to_string())));
                }
            }
        }
    }
}
