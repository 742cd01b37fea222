//! Nothing grows without bound on Redis: after thousands of jobs (some deduplicated, some dead,
//! some cancelled) have run and retention has passed, only a handful of keys remain under the
//! test's prefix: dedup keys whose window is over go with their pruned jobs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_queue::contract::redis_prefix as support;

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::redis::{RedisQueue, RedisQueueConfig};
use dezky_queue::{
    AttemptFailure, Dedup, FetchRequest, ManualClock, NewJob, Outcome, QueueBackend, Retention,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_leaves_a_handful_of_keys() {
    const JOBS: usize = 5000;
    let (prefix, guard) = support::fresh_prefix();
    let clock = ManualClock::starting_now();
    let config = RedisQueueConfig {
        prefix,
        clock_override: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let queue = RedisQueue::connect(&support::redis_url(), config)
        .await
        .unwrap();
    for chunk in 0..JOBS / 1000 {
        let jobs = (0..1000)
            .map(|n| {
                let mut job = NewJob::new("echo", serde_json::json!({ "n": n }));
                if n % 10 == 0 {
                    job.dedup = Some(Dedup {
                        key: format!("k{chunk}-{n}"),
                        window: Duration::from_secs(60),
                        fingerprint: None,
                    });
                }
                job
            })
            .collect();
        queue.push_bulk(jobs).await.unwrap();
    }
    let mut n = 0;
    loop {
        let req = FetchRequest {
            queue: "echo".into(),
            worker: "w".into(),
            limit: 100,
            lease_ttl: Duration::from_secs(30),
        };
        let batch = queue.fetch(req).await.unwrap().jobs;
        if batch.is_empty() {
            break;
        }
        let items: Vec<_> = batch
            .into_iter()
            .map(|j| {
                n += 1;
                let outcome = match n % 3 {
                    0 => Outcome::Abort(AttemptFailure::new("permanent", "x")),
                    _ => Outcome::Succeeded(serde_json::Value::Null),
                };
                (j.lease, outcome)
            })
            .collect();
        queue.complete_many(&items).await.unwrap();
    }
    let later = queue
        .push(NewJob::new("echo", serde_json::json!({})))
        .await
        .unwrap()
        .id;
    queue.cancel(&later).await.unwrap();
    assert_eq!(n, JOBS);
    assert!(guard.key_count() > JOBS, "jobs are stored while kept");

    let retention = Retention::default();
    clock.advance(retention.dead + Duration::from_secs(1));
    while queue.prune(retention, 1000).await.unwrap() > 0 {}
    // Dedup keys go with their pruned jobs, their windows being over.
    let left = guard.key_count();
    assert!(left <= 3, "{left} keys are left after retention");
}
