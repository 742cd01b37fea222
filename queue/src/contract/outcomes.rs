//! Contract cases: what each attempt outcome does to the job.

use std::time::Duration;

use super::{Factory, HarnessConfig, fetch, fetch_one, job};
use crate::clock::{Clock, duration_ms};
use crate::model::{AttemptFailure, JobState, Outcome};

fn transient(msg: &str) -> Outcome {
    Outcome::Retry {
        error: AttemptFailure::new("transient", msg),
        retry_after: None,
    }
}

/// Success stores the result and ends the job.
pub async fn success_records_the_result(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    let state = h
        .queue
        .complete(
            &leased.lease,
            Outcome::Succeeded(serde_json::json!({"ok": true})),
        )
        .await
        .unwrap();
    assert_eq!(state, JobState::Succeeded);
    let done = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(serde_json::json!({"ok": true})));
    assert!(done.finished_at.is_some());
    assert!(
        h.queue
            .complete(&leased.lease, Outcome::Succeeded(serde_json::Value::Null))
            .await
            .is_err(),
        "acked once"
    );
}

/// A retry spends the attempt, waits out a jittered exponential backoff (within its ceiling),
/// keeps every error, and the last attempt's failure makes the job dead.
pub async fn retry_backs_off_then_goes_dead_at_max_attempts(f: &Factory) {
    let config = HarnessConfig::default();
    let policy = config.retry;
    let h = f(config).await;
    let mut j = job("q", 1);
    j.max_attempts = 3;
    let id = h.queue.push(j).await.unwrap().id;
    for attempt in 1..=2u32 {
        let leased = fetch_one(&h, "q").await;
        assert_eq!(leased.lease.attempt, attempt);
        let before = h.clock.now_ms();
        let state = h
            .queue
            .complete(&leased.lease, transient(&format!("boom {attempt}")))
            .await
            .unwrap();
        assert_eq!(state, JobState::Scheduled);
        let job = h.queue.get(&id).await.unwrap().unwrap();
        let ceiling = duration_ms(policy.ceiling(attempt));
        assert!(
            job.run_at >= before && job.run_at <= before + ceiling,
            "backoff within [0, {ceiling}] ms"
        );
        if job.run_at > h.clock.now_ms() {
            assert!(
                fetch(&h, "q", 1).await.jobs.is_empty(),
                "not before its backoff"
            );
        }
        h.clock.advance(policy.ceiling(attempt));
    }
    let last = fetch_one(&h, "q").await;
    assert_eq!(last.lease.attempt, 3);
    assert_eq!(
        h.queue
            .complete(&last.lease, transient("boom 3"))
            .await
            .unwrap(),
        JobState::Dead
    );
    let dead = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(dead.state, JobState::Dead);
    let errors: Vec<(u32, &str, &str)> = dead
        .errors
        .iter()
        .map(|e| (e.attempt, e.class.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (1, "transient", "boom 1"),
            (2, "transient", "boom 2"),
            (3, "transient", "boom 3")
        ]
    );
    assert!(dead.errors.iter().all(|e| e.at > 0));
}

/// A delay the dependency asked for replaces the backoff.
pub async fn retry_after_replaces_backoff(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    let before = h.clock.now_ms();
    let outcome = Outcome::Retry {
        error: AttemptFailure::new("rate_limited", "429"),
        retry_after: Some(Duration::from_secs(120)),
    };
    h.queue.complete(&leased.lease, outcome).await.unwrap();
    assert_eq!(
        h.queue.get(&id).await.unwrap().unwrap().run_at,
        before + 120_000
    );
}

/// A snooze reschedules without spending the attempt and records no error.
pub async fn snooze_does_not_spend_the_attempt(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut j = job("q", 1);
    j.max_attempts = 1;
    let id = h.queue.push(j).await.unwrap().id;
    for _ in 0..3 {
        let leased = fetch_one(&h, "q").await;
        assert_eq!(
            leased.lease.attempt, 1,
            "snoozes never spend the only attempt"
        );
        let state = h
            .queue
            .complete(&leased.lease, Outcome::Snooze(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(state, JobState::Scheduled);
        assert!(fetch(&h, "q", 1).await.jobs.is_empty());
        h.clock.advance(Duration::from_secs(30));
    }
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.attempt, job.snoozes), (0, 3));
    assert!(job.errors.is_empty());
    let leased = fetch_one(&h, "q").await;
    assert_eq!(super::succeed(&h, &leased.lease).await, JobState::Succeeded);
}

/// A block (a dependency gate holds the job) is a snooze that records its reason: the attempt
/// is refunded, the entry names the attempt it interrupted, and a cancel request still wins.
pub async fn blocked_records_why_without_spending_the_attempt(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut j = job("q", 1);
    j.max_attempts = 1;
    let id = h.queue.push(j).await.unwrap().id;
    for _ in 0..2 {
        let leased = fetch_one(&h, "q").await;
        assert_eq!(
            leased.lease.attempt, 1,
            "blocks never spend the only attempt"
        );
        let blocked = Outcome::Blocked {
            delay: Duration::from_secs(30),
            reason: AttemptFailure::new("gate_closed", "authentik is unreachable"),
        };
        let state = h.queue.complete(&leased.lease, blocked).await.unwrap();
        assert_eq!(state, JobState::Scheduled);
        assert!(fetch(&h, "q", 1).await.jobs.is_empty(), "waits its delay");
        h.clock.advance(Duration::from_secs(30));
    }
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.attempt, job.snoozes), (0, 2));
    let recorded: Vec<_> = job
        .errors
        .iter()
        .map(|e| (e.attempt, e.class.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        recorded,
        vec![(1, "gate_closed", "authentik is unreachable"); 2]
    );
    let leased = fetch_one(&h, "q").await;
    h.queue.cancel(&id).await.unwrap();
    let blocked = Outcome::Blocked {
        delay: Duration::from_secs(30),
        reason: AttemptFailure::new("gate_closed", "still"),
    };
    let state = h.queue.complete(&leased.lease, blocked).await.unwrap();
    assert_eq!(
        state,
        JobState::Cancelled,
        "a cancel request wins over a block"
    );
}

/// A permanent failure is dead on the first attempt, whatever attempts remain.
pub async fn abort_is_dead_at_once(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    let state = h
        .queue
        .complete(
            &leased.lease,
            Outcome::Abort(AttemptFailure::new("permanent", "404")),
        )
        .await
        .unwrap();
    assert_eq!(state, JobState::Dead);
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt, job.errors.len()),
        (JobState::Dead, 1, 1)
    );
    assert_eq!(job.errors[0].class, "permanent");
}

/// Many completions in one call: each is fenced and answered on its own, in order.
pub async fn complete_many_answers_each_attempt(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue
        .push_bulk(vec![job("q", 1), job("q", 2), job("q", 3)])
        .await
        .unwrap();
    h.queue.push(job("r", 4)).await.unwrap();
    let mut leased = fetch(&h, "q", 3).await.jobs;
    leased.extend(fetch(&h, "r", 1).await.jobs);
    let ids: Vec<_> = leased.iter().map(|j| j.lease.id.clone()).collect();
    super::succeed(&h, &leased[0].lease).await;
    let items = vec![
        (
            leased[0].lease.clone(),
            Outcome::Succeeded(serde_json::json!("again")),
        ),
        (leased[1].lease.clone(), transient("later")),
        (
            leased[2].lease.clone(),
            Outcome::Abort(AttemptFailure::new("permanent", "no")),
        ),
        (
            leased[3].lease.clone(),
            Outcome::Succeeded(serde_json::json!({"n": 4})),
        ),
    ];
    let answers = h.queue.complete_many(&items).await.unwrap();
    assert!(
        matches!(answers[0], Err(crate::error::QueueError::LeaseLost(_))),
        "{:?}",
        answers[0]
    );
    assert_eq!(answers[1].as_ref().ok(), Some(&JobState::Scheduled));
    assert_eq!(answers[2].as_ref().ok(), Some(&JobState::Dead));
    assert_eq!(answers[3].as_ref().ok(), Some(&JobState::Succeeded));
    let other_queue = h.queue.get(&ids[3]).await.unwrap().unwrap();
    assert_eq!(other_queue.result, Some(serde_json::json!({"n": 4})));
}
