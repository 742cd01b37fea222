//! Contract cases: how a running job stops — only a real cancel request ends it `cancelled`, a
//! cancel request wins over a retry or a snooze, and `retry_now` clears the request.

use std::time::Duration;

use super::{Factory, HarnessConfig, TTL, fetch, fetch_one, job};
use crate::error::QueueError;
use crate::model::{AttemptFailure, JobState, Outcome};

fn retry() -> Outcome {
    Outcome::Retry {
        error: AttemptFailure::new("transient", "try again"),
        retry_after: None,
    }
}

/// A handler answering `Cancelled` with no cancel request is refused, also between its lease's
/// expiry and the rescue (a lost lease is not a cancel), and the job is not ended.
pub async fn cancelled_without_a_request_is_refused(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let pushed = h.queue.push(job("q", 1)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    let refused = h.queue.complete(&leased.lease, Outcome::Cancelled).await;
    assert!(
        matches!(refused, Err(QueueError::InvalidState { .. })),
        "Cancelled without a request: {refused:?}"
    );
    assert_eq!(
        h.queue.get(&pushed.id).await.unwrap().unwrap().state,
        JobState::Running
    );

    // The lease expires; renewal reports it lost; the stale holder answers Cancelled.
    h.clock.advance(TTL + Duration::from_secs(1));
    let renewed = h
        .queue
        .renew(std::slice::from_ref(&leased.lease), TTL)
        .await
        .unwrap();
    assert_eq!(renewed.lost, vec![leased.lease.clone()]);
    let stale = h.queue.complete(&leased.lease, Outcome::Cancelled).await;
    assert!(
        !matches!(stale, Ok(JobState::Cancelled)),
        "a lost lease ended the job cancelled: {stale:?}"
    );
    let job = h.queue.get(&pushed.id).await.unwrap().unwrap();
    assert_ne!(job.state, JobState::Cancelled);
    assert!(!job.cancel_requested);
}

/// A job with a cancel request that answers Retry or Snooze ends `cancelled` (River's rule); the
/// retry's error is still recorded. Abort still ends it dead and success still succeeds.
pub async fn a_cancel_request_wins_over_retry_and_snooze(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    for n in 0..4 {
        h.queue.push(job("q", n)).await.unwrap();
    }
    let leased = fetch(&h, "q", 4).await.jobs;
    assert_eq!(leased.len(), 4);
    for l in &leased {
        h.queue.cancel(&l.lease.id).await.unwrap();
    }
    let outcomes = [
        retry(),
        Outcome::Snooze(Duration::from_secs(5)),
        Outcome::Abort(AttemptFailure::new("permanent", "no")),
        Outcome::Succeeded(serde_json::Value::Null),
    ];
    let expected = [
        JobState::Cancelled,
        JobState::Cancelled,
        JobState::Dead,
        JobState::Succeeded,
    ];
    for ((l, outcome), want) in leased.iter().zip(outcomes).zip(expected) {
        let got = h.queue.complete(&l.lease, outcome.clone()).await.unwrap();
        assert_eq!(got, want, "{outcome:?} after a cancel request");
        let job = h.queue.get(&l.lease.id).await.unwrap().unwrap();
        assert_eq!(job.state, want);
        assert!(job.finished_at.is_some());
    }
    let retried = h.queue.get(&leased[0].lease.id).await.unwrap().unwrap();
    assert_eq!(retried.errors.len(), 1);
    assert_eq!(retried.errors[0].class, "transient");
    let snoozed = h.queue.get(&leased[1].lease.id).await.unwrap().unwrap();
    assert_eq!((snoozed.attempt, snoozed.snoozes), (0, 1));
    assert!(fetch(&h, "q", 4).await.jobs.is_empty());
    h.clock.advance(Duration::from_secs(3600));
    assert!(fetch(&h, "q", 4).await.jobs.is_empty());
}

/// `retry_now` clears a cancel request on every backend: the revived job is not asked to stop
/// at its first renewal.
pub async fn retry_now_clears_the_cancel_request(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let pushed = h.queue.push(job("q", 1)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    h.queue.cancel(&pushed.id).await.unwrap();
    let ended = h.queue.complete(&leased.lease, retry()).await.unwrap();
    // `cancelled` by the rule above; a backend without it left the job `scheduled`.
    assert!(matches!(ended, JobState::Cancelled | JobState::Scheduled));
    let revived = h.queue.retry_now(&pushed.id).await.unwrap();
    assert_eq!(revived.state, JobState::Available);
    assert!(!revived.cancel_requested);
    let again = fetch_one(&h, "q").await;
    let renewed = h
        .queue
        .renew(std::slice::from_ref(&again.lease), TTL)
        .await
        .unwrap();
    assert!(
        renewed.cancel_requested.is_empty(),
        "retry_now left the old cancel request in place"
    );
    assert!(renewed.lost.is_empty());
}
