//! The fence of a job run: it holds while the run's lease is held and will not expire within the
//! margin, on the process's monotonic clock, so a worker that wakes after a pause past its lease
//! refuses its own next write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{DynQueue, JobId, Lease};
use dezky_worker::lease_keeper::{KeeperTiming, LeaseKeeper};

#[tokio::test]
async fn a_run_may_write_only_while_its_lease_outlasts_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fence.db").display());
    let queue: DynQueue = Arc::new(SqliteQueue::open_default(&url).await.unwrap());
    tokio::time::pause();
    // No renewals run: the lease lives its first ten seconds only.
    let keeper = LeaseKeeper::new(
        queue,
        KeeperTiming {
            ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(1),
            margin: Duration::from_secs(1),
        },
    );
    let lease = Lease {
        id: JobId("job-1".into()),
        queue: "default".into(),
        token: 7,
        attempt: 1,
    };
    let _stop = keeper.hold(lease.clone(), tokio::time::Instant::now());
    let fence = keeper.fence(&lease);
    assert_eq!(fence.check(), Ok(()));
    tokio::time::advance(Duration::from_millis(8_900)).await;
    assert_eq!(fence.check(), Ok(()), "1.1 s left");
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(fence.check().is_err(), "0.9 s left: within the margin");
    keeper.done(&lease);
    assert!(fence.check().is_err(), "the lease is gone");
}
