//! Scripts come back after the server forgets them (a restart without persistence of the script
//! cache, a replica promoted by a failover, `SCRIPT FLUSH`): the backend calls scripts by SHA and
//! loads them again on `NOSCRIPT`, on one Redis and on every master of a cluster.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::time::Duration;

use dezky_queue::contract::redis_prefix::{queue_at, redis_cluster_url, redis_url};
use dezky_queue::{FetchRequest, NewJob, QueueBackend};

async fn scripts_come_back(url: &str) {
    let (queue, _guard) = queue_at(url).await;
    let job = || NewJob::new("echo", serde_json::json!({}));
    queue.push(job()).await.unwrap();
    // On a cluster redis-rs sends SCRIPT FLUSH to every master.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut queue.connection())
        .await
        .unwrap();
    queue.push(job()).await.unwrap();
    let fetched = queue
        .fetch(FetchRequest {
            queue: "echo".into(),
            worker: "w".into(),
            limit: 10,
            lease_ttl: Duration::from_secs(30),
        })
        .await
        .unwrap();
    assert_eq!(fetched.jobs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_come_back_after_a_flush() {
    scripts_come_back(&redis_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_come_back_after_a_flush_on_a_cluster() {
    scripts_come_back(&redis_cluster_url()).await;
}
