//! Redis keeps the time: a worker whose clock runs 60 s ahead does not steal live leases. Lease
//! expiry, promotion and rescue follow the server's `TIME`, so in production (no clock override)
//! the hosts' clocks do not matter. The control arm shows what the same worker would do if its
//! own clock decided (as when each caller's clock set lease deadlines): it rescues the live lease
//! and the job runs twice at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::contract::redis_prefix::{PrefixGuard, fresh_prefix, redis_url};
use dezky_queue::redis::{RedisQueue, RedisQueueConfig};
use dezky_queue::{
    Clock, FetchRequest, JobState, LeasedJob, ManualClock, NewJob, Outcome, QueueBackend,
    SystemClock,
};

const TTL: Duration = Duration::from_secs(30);

fn req(worker: &str) -> FetchRequest {
    FetchRequest {
        queue: "echo".into(),
        worker: worker.into(),
        limit: 10,
        lease_ttl: TTL,
    }
}

async fn connect(prefix: &str, clock: Option<Arc<dyn Clock>>) -> RedisQueue {
    RedisQueue::connect(
        &redis_url(),
        RedisQueueConfig {
            prefix: prefix.to_owned(),
            clock_override: clock,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// A clock 60 s ahead of this host's.
fn ahead() -> Arc<dyn Clock> {
    let clock = ManualClock::new(SystemClock.now_ms());
    clock.advance(Duration::from_secs(60));
    Arc::new(clock)
}

/// A worker on server time holding the lease of the one job of a fresh prefix, and a second
/// worker on that prefix whose time is `clock` (None: the server's).
async fn one_live_lease(
    clock: Option<Arc<dyn Clock>>,
) -> (RedisQueue, LeasedJob, RedisQueue, PrefixGuard) {
    let (prefix, guard) = fresh_prefix();
    let honest = connect(&prefix, None).await;
    let other = connect(&prefix, clock).await;
    honest
        .push(NewJob::new("echo", serde_json::json!({})))
        .await
        .unwrap();
    let mut held = honest.fetch(req("honest")).await.unwrap().jobs;
    assert_eq!(held.len(), 1);
    (honest, held.remove(0), other, guard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_clock_runs_ahead_does_not_steal_live_leases() {
    // The second worker's host clock runs 60 s ahead; on server time it is never read.
    let (honest, held, skewed, _guard) = one_live_lease(None).await;
    let fetched = skewed.fetch(req("skewed")).await.unwrap();
    assert_eq!(fetched.rescued, 0, "the live lease was rescued");
    assert!(fetched.jobs.is_empty(), "the job was leased twice");
    assert_eq!(skewed.rescue_expired(100).await.unwrap(), 0);

    let lease = &held.lease;
    let renewed = honest
        .renew(std::slice::from_ref(lease), TTL)
        .await
        .unwrap();
    assert!(renewed.lost.is_empty());
    let state = honest
        .complete(lease, Outcome::Succeeded(serde_json::Value::Null))
        .await
        .unwrap();
    assert_eq!(state, JobState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_worker_trusting_its_own_fast_clock_would_steal() {
    let (honest, held, skewed, _guard) = one_live_lease(Some(ahead())).await;
    let fetched = skewed.fetch(req("skewed")).await.unwrap();
    assert_eq!(fetched.rescued, 1);
    assert_eq!(fetched.jobs.len(), 1, "the same job, leased again");
    let state = honest
        .complete(&held.lease, Outcome::Succeeded(serde_json::Value::Null))
        .await;
    assert!(state.is_err(), "the first worker's lease is gone");
}
