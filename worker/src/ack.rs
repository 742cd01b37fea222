//! The ack layer: turns each attempt's final result into a queue outcome and completes the job,
//! fenced by its lease. It sits outside timeout and catch-panic, so it sees their verdicts too.

use std::task::{Context, Poll};

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::Task;
use dezky_jobs::JobError;
use dezky_queue::{AttemptFailure, Outcome, QueueError};
use futures::FutureExt;
use futures::future::BoxFuture;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::batch::AckBatcher;
use crate::leases::HeldLeases;
use crate::source::JobTask;

/// Makes [`Ack`] services.
#[derive(Debug, Clone)]
pub struct AckLayer {
    acks: AckBatcher,
    held: HeldLeases,
}

impl AckLayer {
    /// A layer completing jobs through `acks` and forgetting them in `held`.
    pub fn new(acks: AckBatcher, held: HeldLeases) -> Self {
        Self { acks, held }
    }
}

impl<S> Layer<S> for AckLayer {
    type Service = Ack<S>;
    fn layer(&self, inner: S) -> Ack<S> {
        Ack {
            acks: self.acks.clone(),
            held: self.held.clone(),
            inner,
        }
    }
}

/// Completes each attempt with the outcome its result implies.
#[derive(Debug, Clone)]
pub struct Ack<S> {
    acks: AckBatcher,
    held: HeldLeases,
    inner: S,
}

/// The outcome an attempt's result implies.
pub fn classify(result: &Result<serde_json::Value, BoxDynError>) -> Outcome {
    let error = match result {
        Ok(value) => return Outcome::Succeeded(value.clone()),
        Err(e) => e,
    };
    if let Some(job_error) = error.downcast_ref::<JobError>() {
        return match job_error {
            JobError::Retry {
                class,
                message,
                retry_after,
            } => Outcome::Retry {
                error: AttemptFailure::new(*class, message.clone()),
                retry_after: *retry_after,
            },
            JobError::Snooze(delay) => Outcome::Snooze(*delay),
            JobError::Abort { class, message } => {
                Outcome::Abort(AttemptFailure::new(*class, message.clone()))
            }
            JobError::Cancelled => Outcome::Cancelled,
        };
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return Outcome::Retry {
            error: AttemptFailure::new("timeout", "the attempt ran past its kind's timeout"),
            retry_after: None,
        };
    }
    if let Some(abort) = error.downcast_ref::<AbortError>() {
        // catch-panic's verdict: a panic is a bug, and retrying a bug only repeats it.
        return Outcome::Abort(AttemptFailure::new("panic", abort.to_string()));
    }
    Outcome::Retry {
        error: AttemptFailure::new("error", error.to_string()),
        retry_after: None,
    }
}

impl<S> Service<Task<JobTask>> for Ack<S>
where
    S: Service<Task<JobTask>, Response = serde_json::Value>,
    S::Error: Into<BoxDynError>,
    S::Future: Send + 'static,
{
    type Response = serde_json::Value;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<serde_json::Value, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxDynError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<JobTask>) -> Self::Future {
        let job = &task.args.job;
        let lease = job.lease.clone();
        let span =
            tracing::info_span!("job", id = %lease.id, kind = %job.kind, attempt = lease.attempt);
        let (acks, held) = (self.acks.clone(), self.held.clone());
        let attempt = self.inner.call(task);
        async move {
            let result = attempt.await.map_err(Into::into);
            let outcome = classify(&result);
            let finished = describe(&outcome);
            let completed = acks.complete(lease.clone(), outcome.clone()).await;
            held.drop_lease(&lease);
            match &completed {
                Ok(state) if matches!(outcome, Outcome::Succeeded(_)) => {
                    tracing::debug!(outcome = finished, state = %state, "attempt finished")
                }
                Ok(state) => tracing::info!(outcome = finished, state = %state, "attempt finished"),
                Err(QueueError::LeaseLost(_)) => {
                    tracing::warn!(outcome = finished, "attempt finished after its lease was lost; result discarded")
                }
                Err(e) => tracing::error!(outcome = finished, error = %e, "could not record the outcome; the lease will expire and the job run again"),
            }
            completed?;
            result
        }
        .instrument(span)
        .boxed()
    }
}

fn describe(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded(_) => "succeeded",
        Outcome::Retry { .. } => "retry",
        Outcome::Snooze(_) => "snooze",
        Outcome::Abort(_) => "abort",
        Outcome::Cancelled => "cancelled",
    }
}
