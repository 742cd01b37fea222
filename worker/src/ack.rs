//! The ack layer: turns each attempt's final result — and why its handler was asked to stop —
//! into what the queue records, and records it, fenced by the lease. It sits outside timeout and
//! catch-panic, so it sees their verdicts too.
//!
//! A handler whose lease is lost is dropped at once (another worker may run the job) and nothing
//! is recorded. `JobError::Cancelled` ends the job `cancelled` only after an operator's cancel
//! request; at shutdown it gives the job back (attempt refunded); unasked it is a retry of class
//! `stopped`. A panic is retried like any error (class `panic`): an `unwrap()` on a transient
//! failure must not kill a job for good. A success the attempt already recorded in its own
//! transaction (the queue in the store's database) is not recorded again.

use std::sync::Arc;
use std::task::{Context, Poll};

use apalis_core::error::{AbortError, BoxDynError};
use apalis_core::task::Task;
use dezky_jobs::{JobError, StopReason};
use dezky_queue::{AttemptFailure, Clock, Lease, Outcome, QueueError, SystemClock};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::batch::AckBatcher;
use crate::lease_keeper::LeaseKeeper;
use crate::run_log::{AttemptEnd, AttemptRecord, RunLog};
use crate::source::JobTask;

/// Makes [`Ack`] services.
#[derive(Debug, Clone)]
pub struct AckLayer {
    acks: AckBatcher,
    keeper: LeaseKeeper,
    run_log: Option<Arc<dyn RunLog>>,
}

impl AckLayer {
    /// A layer completing jobs through `acks`, their leases kept by `keeper`, telling `run_log`
    /// of each attempt.
    pub fn new(acks: AckBatcher, keeper: LeaseKeeper, run_log: Option<Arc<dyn RunLog>>) -> Self {
        Self {
            acks,
            keeper,
            run_log,
        }
    }
}

impl<S> Layer<S> for AckLayer {
    type Service = Ack<S>;
    fn layer(&self, inner: S) -> Ack<S> {
        Ack {
            acks: self.acks.clone(),
            keeper: self.keeper.clone(),
            run_log: self.run_log.clone(),
            inner,
        }
    }
}

/// Completes each attempt with the outcome its result implies.
#[derive(Debug, Clone)]
pub struct Ack<S> {
    acks: AckBatcher,
    keeper: LeaseKeeper,
    run_log: Option<Arc<dyn RunLog>>,
    inner: S,
}

/// What the worker does with an attempt that ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Record this outcome.
    Complete(Outcome),
    /// Give the job back, attempt refunded (stopped by a shutdown).
    Release,
}

/// The verdict an attempt's result implies, given why its handler was asked to stop.
pub fn classify(
    result: &Result<serde_json::Value, BoxDynError>,
    stop: Option<StopReason>,
) -> Verdict {
    let error = match result {
        Ok(value) => return Verdict::Complete(Outcome::Succeeded(value.clone())),
        Err(e) => e,
    };
    let retry = |class: &str, message: String| {
        Verdict::Complete(Outcome::Retry {
            error: AttemptFailure::new(class, message),
            retry_after: None,
        })
    };
    if let Some(job_error) = error.downcast_ref::<JobError>() {
        return match job_error {
            JobError::Retry {
                class,
                message,
                retry_after,
            } => Verdict::Complete(Outcome::Retry {
                error: AttemptFailure::new(*class, message.clone()),
                retry_after: *retry_after,
            }),
            JobError::Snooze(delay) => Verdict::Complete(Outcome::Snooze(*delay)),
            JobError::Unavailable {
                dependency,
                message,
            } => Verdict::Complete(Outcome::Blocked {
                delay: crate::gate::blocked_delay(),
                reason: AttemptFailure::new(
                    crate::gate::GATE_CLOSED,
                    format!(
                        "{} is unreachable ({message}); waiting without spending an attempt",
                        dependency.name()
                    ),
                ),
            }),
            JobError::Abort { class, message } => {
                Verdict::Complete(Outcome::Abort(AttemptFailure::new(*class, message.clone())))
            }
            JobError::Cancelled => match stop {
                Some(StopReason::Cancel) => Verdict::Complete(Outcome::Cancelled),
                Some(StopReason::Shutdown) => Verdict::Release,
                Some(StopReason::LeaseLost) | None => retry(
                    "stopped",
                    "the handler answered Cancelled, but no cancel was requested".into(),
                ),
            },
        };
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return retry("timeout", "the attempt ran past its kind's timeout".into());
    }
    if let Some(abort) = error.downcast_ref::<AbortError>() {
        // catch-panic's verdict. A panic is often an `unwrap()` on a transient failure: retried
        // with backoff like any error, dead after max_attempts.
        return retry("panic", abort.to_string());
    }
    retry("error", error.to_string())
}

/// Resolves when the lease is lost (never otherwise).
async fn lease_lost(mut stop: watch::Receiver<Option<StopReason>>) {
    if stop
        .wait_for(|r| *r == Some(StopReason::LeaseLost))
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

/// The attempt was dropped: its lease was lost.
#[derive(Debug, thiserror::Error)]
#[error("the attempt was stopped: its lease was lost")]
pub struct LeaseLostError;

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
        let stop = task.args.stop.clone();
        let span =
            tracing::info_span!("job", id = %lease.id, kind = %job.kind, attempt = lease.attempt);
        let (acks, keeper) = (self.acks.clone(), self.keeper.clone());
        let (run_log, kind) = (self.run_log.clone(), job.kind.clone());
        let committed = task.args.committed.clone();
        let metric_kind = kind.clone();
        crate::metrics::picked_up(&kind, SystemClock.now_ms() - job.run_at);
        let attempt = self.inner.call(task);
        let started = std::time::Instant::now();
        async move {
            let mut history = run_log.map(|log| {
                let record = AttemptRecord {
                    job_id: lease.id.0.clone(),
                    attempt: lease.attempt,
                    kind,
                    started_at: SystemClock.now_ms(),
                    ended: None,
                };
                log.record(record.clone());
                (log, record)
            });
            let result = tokio::select! {
                biased;
                result = attempt => Some(result.map_err(Into::into)),
                () = lease_lost(stop) => None,
            };
            let Some(result) = result else {
                keeper.done(&lease);
                tracing::warn!("handler stopped: its lease was lost; nothing recorded");
                log_end(history.as_mut(), "lease_lost", None);
                crate::metrics::attempt_ended(&metric_kind, "lease_lost", started.elapsed());
                return Err(LeaseLostError.into());
            };
            let verdict = classify(&result, keeper.stop_reason(&lease));
            let (outcome, error) = ended(&verdict);
            crate::metrics::attempt_ended(&metric_kind, outcome, started.elapsed());
            let recorded = match committed.get() {
                // The attempt recorded its success itself, with its store writes.
                Some(state) if matches!(verdict, Verdict::Complete(Outcome::Succeeded(_))) => {
                    keeper.done(&lease);
                    tracing::debug!(outcome, state = %state, "attempt finished, with its store writes");
                    Ok(())
                }
                _ => record(&acks, &keeper, lease, verdict).await,
            };
            log_end(history.as_mut(), outcome, error);
            recorded?;
            result
        }
        .instrument(span)
        .boxed()
    }
}

/// Records `verdict` for `lease`, logging what became of the job.
async fn record(
    acks: &AckBatcher,
    keeper: &LeaseKeeper,
    lease: Lease,
    verdict: Verdict,
) -> Result<(), QueueError> {
    let outcome = match verdict {
        Verdict::Complete(outcome) => outcome,
        Verdict::Release => {
            keeper.release(std::slice::from_ref(&lease)).await?;
            tracing::info!("stopped by shutdown; given back, attempt refunded");
            return Ok(());
        }
    };
    let finished = describe(&outcome);
    keeper.acking(&lease);
    // `Cancelled` goes out only after an operator's cancel request, which cannot be withdrawn
    // while the job runs: the queue's refusal of an unasked `Cancelled` cannot come back here.
    let completed = acks.complete(lease.clone(), outcome.clone()).await;
    match &completed {
        Ok(state) if matches!(outcome, Outcome::Succeeded(_)) => {
            tracing::debug!(outcome = finished, state = %state, "attempt finished")
        }
        Ok(state) => tracing::info!(outcome = finished, state = %state, "attempt finished"),
        Err(QueueError::LeaseLost(_)) => {
            tracing::warn!(
                outcome = finished,
                "attempt finished after its lease was lost; result discarded"
            )
        }
        Err(e) => {
            tracing::error!(outcome = finished, error = %e, "could not record the outcome; the lease will expire and the job run again")
        }
    }
    completed.map(drop)
}

/// What the run history says of a verdict: its outcome and error message.
fn ended(verdict: &Verdict) -> (&'static str, Option<String>) {
    match verdict {
        Verdict::Release => ("released", None),
        Verdict::Complete(outcome) => {
            let error = match outcome {
                Outcome::Retry { error, .. } | Outcome::Abort(error) => {
                    Some(format!("{}: {}", error.class, error.message))
                }
                _ => None,
            };
            (describe(outcome), error)
        }
    }
}

/// Tells the run history how an attempt ended.
fn log_end(
    history: Option<&mut (Arc<dyn RunLog>, AttemptRecord)>,
    outcome: &'static str,
    error: Option<String>,
) {
    if let Some((log, record)) = history {
        record.ended = Some(AttemptEnd {
            at: SystemClock.now_ms(),
            outcome,
            error,
        });
        log.record(record.clone());
    }
}

fn describe(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded(_) => "succeeded",
        Outcome::Retry { .. } => "retry",
        Outcome::Snooze(_) => "snooze",
        Outcome::Blocked { .. } => "blocked",
        Outcome::Abort(_) => "abort",
        Outcome::Cancelled => "cancelled",
    }
}
