//! Contract cases: lease expiry, fencing, renewal, release, and racing workers.

use std::collections::HashSet;
use std::time::Duration;

use super::{Factory, HarnessConfig, TTL, fetch, fetch_one, job};
use crate::error::QueueError;
use crate::model::{JobState, Outcome};

/// An expired lease puts the job back (attempt spent, error kept); the new holder's lease works
/// and the old holder's completion is refused.
pub async fn expired_lease_returns_the_job_and_fences_the_old_worker(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let stale = fetch_one(&h, "q").await;
    h.clock.advance(TTL - Duration::from_millis(1));
    assert!(fetch(&h, "q", 1).await.jobs.is_empty(), "not before expiry");
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(h.queue.rescue_expired(100).await.unwrap(), 1);
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Available, 1));
    assert_eq!(
        job.errors.last().map(|e| e.class.as_str()),
        Some("lease_expired")
    );
    let fresh = fetch_one(&h, "q").await;
    assert_eq!(fresh.lease.attempt, 2);
    assert_ne!(fresh.lease.token, stale.lease.token);
    let refused = h
        .queue
        .complete(&stale.lease, Outcome::Succeeded(serde_json::Value::Null))
        .await;
    assert!(
        matches!(refused, Err(QueueError::LeaseLost(_))),
        "{refused:?}"
    );
    assert_eq!(super::succeed(&h, &fresh.lease).await, JobState::Succeeded);
}

/// A lease that expires on the last attempt makes the job dead (a poison job cannot loop), and
/// fetch itself rescues, without a separate maintenance pass.
pub async fn expired_lease_on_last_attempt_is_dead(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut j = job("q", 1);
    j.max_attempts = 2;
    let id = h.queue.push(j).await.unwrap().id;
    for _ in 0..2 {
        fetch_one(&h, "q").await;
        h.clock.advance(TTL);
    }
    let after = fetch(&h, "q", 1).await;
    assert!(after.jobs.is_empty());
    assert_eq!(after.rescued, 1);
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Dead, 2));
    assert_eq!(
        job.errors
            .iter()
            .filter(|e| e.class == "lease_expired")
            .count(),
        2
    );
}

/// Renewing before expiry keeps the job leased past its first deadline.
pub async fn renewal_keeps_the_lease(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue.push(job("q", 1)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    for _ in 0..4 {
        h.clock.advance(TTL / 2);
        let renewed = h
            .queue
            .renew(std::slice::from_ref(&leased.lease), TTL)
            .await
            .unwrap();
        assert!(renewed.lost.is_empty() && renewed.cancel_requested.is_empty());
        assert!(fetch(&h, "q", 1).await.jobs.is_empty(), "still leased");
    }
    assert_eq!(super::succeed(&h, &leased.lease).await, JobState::Succeeded);
}

/// Renewal tells the worker which leases it lost and which jobs were asked to cancel.
pub async fn renew_reports_lost_and_cancel_requested(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue
        .push_bulk(vec![job("q", 1), job("q", 2), job("q", 3)])
        .await
        .unwrap();
    let leased = fetch(&h, "q", 3).await.jobs;
    let (a, b, c) = (
        leased[0].lease.clone(),
        leased[1].lease.clone(),
        leased[2].lease.clone(),
    );
    super::succeed(&h, &a).await;
    h.queue.cancel(&b.id).await.unwrap();
    let renewed = h
        .queue
        .renew(&[a.clone(), b.clone(), c], TTL)
        .await
        .unwrap();
    assert_eq!(renewed.lost, vec![a]);
    assert_eq!(renewed.cancel_requested, vec![b]);
}

/// Released jobs are available again at once with the attempt refunded; stale leases are skipped.
pub async fn release_refunds_the_attempt(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    assert_eq!(
        h.queue
            .release(std::slice::from_ref(&leased.lease))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        h.queue
            .release(std::slice::from_ref(&leased.lease))
            .await
            .unwrap(),
        0
    );
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Available, 0));
    assert_eq!(fetch_one(&h, "q").await.lease.attempt, 1);
}

/// Many workers fetching at once never lease one job twice, and lease every job.
pub async fn racing_workers_get_one_lease_each_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let total = 40;
    h.queue
        .push_bulk((0..total).map(|n| job("q", n)).collect())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let queue = h.queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = queue.fetch(super::req("q", 3)).await.expect("fetch").jobs;
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|j| j.lease.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id), "a job was leased twice");
        }
    }
    assert_eq!(seen.len(), total as usize);
}
