//! Contract cases: push, get, validation, fetch order and limits, scheduling, pause.

use std::time::Duration;

use super::{Factory, HarnessConfig, fetch, fetch_one, job};
use crate::clock::{Clock, duration_ms};
use crate::error::QueueError;
use crate::model::{JobId, JobState};

/// A pushed job reads back whole, available, with no attempt spent.
pub async fn push_then_get_returns_the_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut new = job("echo", 7);
    new.tenant = Some("acme".into());
    new.enqueued_by = Some("portal".into());
    new.priority = 3;
    new.max_attempts = 5;
    let pushed = h.queue.push(new).await.unwrap();
    assert!(!pushed.duplicate);
    assert!(JobId::parse(pushed.id.as_str()).is_some(), "ids are ULIDs");
    let got = h.queue.get(&pushed.id).await.unwrap().expect("job");
    assert_eq!(got.state, JobState::Available);
    assert_eq!((got.kind.as_str(), got.queue.as_str()), ("echo", "echo"));
    assert_eq!(got.args, serde_json::json!({"n": 7}));
    assert_eq!(got.tenant.as_deref(), Some("acme"));
    assert_eq!(got.enqueued_by.as_deref(), Some("portal"));
    assert_eq!((got.priority, got.attempt, got.max_attempts), (3, 0, 5));
    assert!(got.errors.is_empty() && got.result.is_none());
    let other = h.queue.push(job("echo", 8)).await.unwrap();
    assert_ne!(other.id, pushed.id);
}

/// Looking up an id nobody pushed is not an error.
pub async fn unknown_ids_are_none(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    assert!(h.queue.get(&JobId::generate()).await.unwrap().is_none());
}

/// Pushes a backend can never run are refused, and a refused bulk push inserts nothing.
pub async fn invalid_pushes_are_refused(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut zero = job("echo", 1);
    zero.max_attempts = 0;
    assert!(matches!(
        h.queue.push(zero.clone()).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        h.queue.push(job("", 1)).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        h.queue.push_bulk(vec![job("echo", 1), zero]).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(fetch(&h, "echo", 10).await.jobs.is_empty());
}

/// A bulk push is all-or-nothing within one queue; one that spans queues is refused on every
/// backend, and nothing is inserted.
pub async fn bulk_push_spanning_queues_is_refused(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let spanning = h.queue.push_bulk(vec![job("a", 1), job("b", 2)]).await;
    assert!(
        matches!(spanning, Err(QueueError::Invalid(_))),
        "bulk push across queues: {spanning:?}"
    );
    assert!(fetch(&h, "a", 10).await.jobs.is_empty());
    assert!(fetch(&h, "b", 10).await.jobs.is_empty());
    let mut same = job("c", 3);
    same.queue = Some("a".into());
    assert_eq!(
        h.queue
            .push_bulk(vec![job("a", 1), same])
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Higher priority first, then earlier run_at, then first pushed.
pub async fn fetch_orders_by_priority_then_run_at_then_fifo(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let now = h.clock.now_ms();
    let mut specs = vec![
        (0, now, 1),
        (0, now, 2),
        (5, now, 3),
        (0, now - 1000, 4),
        (5, now - 10, 5),
        (-1, now - 5000, 6),
    ];
    let mut ids = Vec::new();
    for (priority, run_at, n) in specs.drain(..) {
        let mut j = job("q", n);
        j.priority = priority;
        j.run_at = Some(run_at);
        ids.push(h.queue.push(j).await.unwrap().id);
    }
    let got: Vec<i64> = fetch(&h, "q", 10)
        .await
        .jobs
        .iter()
        .map(|j| j.args["n"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![5, 3, 4, 1, 2, 6]);
}

/// Each fetch counts one attempt, leases at most `limit`, and never hands a job out twice.
pub async fn fetch_counts_the_attempt_and_respects_the_limit(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue
        .push_bulk((0..5).map(|n| job("q", n)).collect())
        .await
        .unwrap();
    let first = fetch(&h, "q", 3).await.jobs;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|j| j.lease.attempt == 1));
    let rest = fetch(&h, "q", 10).await.jobs;
    assert_eq!(rest.len(), 2);
    assert!(fetch(&h, "q", 10).await.jobs.is_empty());
    let running = h.queue.get(&first[0].lease.id).await.unwrap().unwrap();
    assert_eq!((running.state, running.attempt), (JobState::Running, 1));
    assert_eq!(running.worker.as_deref(), Some("contract-worker"));
    assert!(
        fetch(&h, "other", 10).await.jobs.is_empty(),
        "queues are separate"
    );
}

/// A job with a future run_at is scheduled, and becomes fetchable when the clock reaches it.
pub async fn future_jobs_wait_until_due(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut j = job("q", 1);
    let due = h.clock.now_ms() + duration_ms(Duration::from_secs(60));
    j.run_at = Some(due);
    let id = h.queue.push(j).await.unwrap().id;
    assert_eq!(
        h.queue.get(&id).await.unwrap().unwrap().state,
        JobState::Scheduled
    );
    assert!(fetch(&h, "q", 1).await.jobs.is_empty());
    h.clock.advance(Duration::from_secs(59));
    assert!(fetch(&h, "q", 1).await.jobs.is_empty());
    h.clock.advance(Duration::from_secs(1));
    let leased = fetch_one(&h, "q").await;
    assert_eq!(leased.lease.id, id);
    assert_eq!(leased.run_at, due, "the lease says when the job became due");
}

/// A paused queue hands out nothing; resuming lets its jobs go; other queues are unaffected.
pub async fn paused_queue_is_not_fetched_until_resumed(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue.push(job("q", 1)).await.unwrap();
    h.queue.push(job("other", 1)).await.unwrap();
    h.queue.pause("q").await.unwrap();
    assert!(fetch(&h, "q", 1).await.jobs.is_empty());
    assert_eq!(fetch(&h, "other", 1).await.jobs.len(), 1);
    let counts = h.queue.counts().await.unwrap();
    assert!(counts.iter().any(|c| c.queue == "q" && c.paused));
    h.queue.resume("q").await.unwrap();
    assert_eq!(fetch(&h, "q", 1).await.jobs.len(), 1);
}
