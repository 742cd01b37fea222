//! Two worker processes on one queue: a process leases only as many jobs as it has free slots,
//! so a job it could not start at once is left for another process (River, Oban and BullMQ
//! fetch the same way).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{Process, enqueue_at, free_port, poll_until, start_binary, wait_ready};
use dezky_queue::clock::format_ms;
use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{Clock, JobId, JobState, QueueBackend, SystemClock};
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_no_slot_can_start_is_left_for_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let env = [
        ("DEZKY_DATABASE_URL", db_url.clone()),
        ("DEZKY_WORKER_CONCURRENCY", "2".to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
    ];
    let (port, client) = (free_port(), common::http());
    let _first = Process(start_binary(port, &env));
    assert!(wait_ready(&client, port).await, "process 1 did not come up");
    let enqueue = |body: Value| enqueue_at(&client, port, body);
    let queue = SqliteQueue::open_default(&db_url).await.unwrap();
    let state = |id: JobId| {
        let queue = queue.clone();
        async move { queue.get(&id).await.unwrap().unwrap().state }
    };

    // Process 1 runs a long job in one of its two slots.
    let long = enqueue(json!({"kind": "sleep", "args": {"ms": 60_000}})).await;
    assert!(
        poll_until(Duration::from_secs(15), || async {
            state(long.clone()).await == JobState::Running
        })
        .await
    );
    // A long high-priority job and a short one come due together: process 1 has one free slot.
    let due = format_ms(SystemClock.now_ms() + 1_500);
    let urgent =
        enqueue(json!({"kind": "sleep", "priority": 10, "run_at": due, "args": {"ms": 60_000}}))
            .await;
    let short = enqueue(json!({"kind": "sleep", "run_at": due, "args": {"ms": 100}})).await;
    assert!(
        poll_until(Duration::from_secs(15), || async {
            state(urgent.clone()).await == JobState::Running
        })
        .await
    );

    // Process 2 starts: the short job runs there at once, while process 1's slots stay busy.
    let port2 = free_port();
    let _second = Process(start_binary(port2, &env));
    let ran = poll_until(Duration::from_secs(10), || async {
        state(short.clone()).await == JobState::Succeeded
    })
    .await;
    assert!(
        ran,
        "the short job waited (now {:?}): process 1 had leased it with no slot to run it",
        state(short.clone()).await
    );
    assert_eq!(state(long).await, JobState::Running);
    assert_eq!(state(urgent).await, JobState::Running);
}
