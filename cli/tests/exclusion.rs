//! Per-key exclusion across processes: two jobs declaring one key, pushed into three worker
//! processes on one Redis queue, never run at the same time, and the one that waited spent no
//! attempt doing so (it snoozed). The `exclusive` test kind answers when it started and ended.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{enqueue_at, job_at, poll_until, start_three_on_redis};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_one_key_never_overlap_across_three_processes() {
    let dir = tempfile::tempdir().unwrap();
    let client = common::http();
    let (ports, _processes, _guard) = start_three_on_redis(&client, dir.path(), &[]).await;

    let body = json!({"kind": "exclusive", "args": {"key": "acme", "ms": 1500}});
    let (first, second) = tokio::join!(
        enqueue_at(&client, ports[0], body.clone()),
        enqueue_at(&client, ports[1], body.clone()),
    );
    let job = |id: dezky_queue::JobId| {
        let client = &client;
        async move { job_at(client, ports[2], &id.0).await }
    };
    assert!(
        poll_until(Duration::from_secs(30), || async {
            job(first.clone()).await["state"] == "succeeded"
                && job(second.clone()).await["state"] == "succeeded"
        })
        .await,
        "the two jobs did not both succeed: {} / {}",
        job(first.clone()).await,
        job(second.clone()).await
    );
    let (a, b) = (job(first).await, job(second).await);
    let span = |j: &Value| {
        (
            j["result"]["started"].as_u64().unwrap(),
            j["result"]["ended"].as_u64().unwrap(),
        )
    };
    let (sa, ea) = span(&a);
    let (sb, eb) = span(&b);
    assert!(
        ea <= sb || eb <= sa,
        "the jobs overlapped: {sa}..{ea} and {sb}..{eb}"
    );
    assert_eq!(
        (a["attempt"].as_u64(), b["attempt"].as_u64()),
        (Some(1), Some(1)),
        "waiting spent an attempt"
    );
    let snoozes = a["snoozes"].as_u64().unwrap() + b["snoozes"].as_u64().unwrap();
    assert!(
        snoozes >= 1,
        "neither job waited: they did not race for the key"
    );
}
