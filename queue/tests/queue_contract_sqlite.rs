//! The queue contract suite against the SQLite backend: each case gets its own database file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;

use dezky_queue::ManualClock;
use dezky_queue::contract::{Harness, HarnessConfig};
use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig};

async fn sqlite_harness(config: HarnessConfig) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let clock = ManualClock::starting_now();
    let queue = SqliteQueue::open(
        &url,
        Arc::new(clock.clone()),
        SqliteQueueConfig {
            retry: config.retry,
            promote_limit: config.promote_limit,
            ..Default::default()
        },
    )
    .await
    .expect("open sqlite queue");
    Harness {
        queue: Arc::new(queue),
        clock,
        guard: Some(Box::new(dir)),
    }
}

dezky_queue::queue_contract_tests!(sqlite_harness);
dezky_queue::queue_model_test!(sqlite_harness);
