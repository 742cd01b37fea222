//! SQLite for tests: the contract harness on a fresh database file, with the tuning a test asks
//! for.

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::contract::{Harness, HarnessConfig};
use crate::sqlite::{SqliteQueue, SqliteQueueConfig};

/// A contract harness on its own database file; `tune` adjusts the backend's config.
pub async fn harness_with(config: HarnessConfig, tune: fn(&mut SqliteQueueConfig)) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let clock = ManualClock::starting_now();
    let mut sqlite = SqliteQueueConfig {
        retry: config.retry,
        promote_limit: config.promote_limit,
        ..Default::default()
    };
    tune(&mut sqlite);
    let queue = SqliteQueue::open(&url, Arc::new(clock.clone()), sqlite)
        .await
        .expect("open sqlite queue");
    Harness {
        queue: Arc::new(queue),
        clock,
        guard: Some(Box::new(dir)),
    }
}
