//! The checker over a real queue, store and simulator state file: a small workload whose every
//! push is acknowledged and run passes; then the faults the harness can plant — an acknowledged
//! job deleted from the queue, a tick enqueued twice, a duplicate object in the simulator — are
//! each reported.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dezky_chaos::{Ack, ExpectedTicks, Observations, Report, check, observe, plant};
use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{DynQueue, FetchRequest, NewJob, Outcome};
use serde_json::json;

/// The test's schedule ticks hourly (the run is well within one or two of its periods).
const HOUR: i64 = 3_600_000;

struct Run {
    /// The tick of the hour the run began in.
    hour: i64,
    queue: DynQueue,
    store: dezky_store::Store,
    acks: Vec<Ack>,
    state_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A tick's job of the `reconcile` schedule, due at its tick.
fn tick_job() -> NewJob {
    let mut tick = NewJob::new("sleep", json!({"ms": 0}));
    tick.enqueued_by = Some("scheduler:reconcile".into());
    tick.run_at = Some(60_000);
    tick
}

/// Twenty `sleep` jobs pushed under keys (one key pushed twice), one tick's job, all run to
/// success; the simulator's state holds one tenant's objects.
async fn workload() -> Run {
    let started = dezky_queue::Clock::now_ms(&dezky_queue::SystemClock);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("chaos.db").display());
    let queue: DynQueue = Arc::new(SqliteQueue::open_default(&url).await.unwrap());
    let store = dezky_store::Store::connect(&url).await.unwrap();
    let mut acks = Vec::new();
    for n in 0..21 {
        let key = format!("key-{}", n.min(19));
        let mut job = NewJob::new("sleep", json!({"ms": 0}));
        job.dedup = Some(dezky_queue::Dedup {
            key: key.clone(),
            window: Duration::from_secs(3600),
            fingerprint: None,
        });
        let pushed = queue.push(job).await.unwrap();
        acks.push(Ack {
            key,
            job: pushed.id.0,
        });
    }
    queue.push(tick_job()).await.unwrap();
    drain(&queue).await;
    let state_file = dir.path().join("authentik.json");
    let objects = json!({
        "brands": [{"domain": "acme.example"}],
        "groups": [{"name": "dezky-tenant-acme"}],
        "providers": [{"name": "acme", "redirect_uris": [{"matching_mode": "strict", "url": "https://acme.example/cb"}]}],
    });
    std::fs::write(&state_file, objects.to_string()).unwrap();
    Run {
        hour: started / HOUR * HOUR,
        queue,
        store,
        acks,
        state_file,
        _dir: dir,
    }
}

/// Runs every available job of the `sleep` queue to success.
async fn drain(queue: &DynQueue) {
    loop {
        let fetched = queue
            .fetch(FetchRequest {
                queue: "sleep".into(),
                worker: "chaos-test".into(),
                limit: 50,
                lease_ttl: Duration::from_secs(30),
            })
            .await
            .unwrap();
        if fetched.jobs.is_empty() {
            return;
        }
        for job in fetched.jobs {
            queue
                .complete(&job.lease, Outcome::Succeeded(json!(null)))
                .await
                .unwrap();
        }
    }
}

async fn checked(run: &Run) -> Report {
    let jobs = observe::jobs(&run.queue).await.unwrap();
    let runs = observe::runs(&run.store, jobs.keys()).await.unwrap();
    check(&Observations {
        acknowledged: run.acks.clone(),
        jobs,
        runs,
        kinds_without_history: BTreeSet::from(["sleep".into()]),
        authentik: observe::authentik_objects(&run.state_file).unwrap(),
        expected_ticks: BTreeMap::from([(
            "reconcile".into(),
            ExpectedTicks {
                kind: "sleep".into(),
                period_ms: HOUR,
                required: vec![],
                allowed: vec![run.hour - HOUR, run.hour, run.hour + HOUR],
            },
        )]),
        unavailable_max_rps: Some(1),
        probe_rps_bound: 2,
    })
}

#[tokio::test]
async fn a_clean_run_passes_and_each_planted_fault_is_caught() {
    let run = workload().await;
    let report = checked(&run).await;
    assert!(report.ok(), "{}", report.markdown());

    // The harness's own plantings (`dezky-chaos --plant`).
    let deleted = plant::delete_acknowledged(&run.queue, &run.acks)
        .await
        .unwrap();
    assert!(deleted.is_some());
    let report = checked(&run).await;
    assert_eq!(report.lost.len(), 1, "{}", report.markdown());

    let twice = plant::tick_twice(&run.queue, "reconcile").await.unwrap();
    assert!(twice.is_some());
    let report = checked(&run).await;
    assert_eq!(report.ticks_wrong.len(), 1, "{}", report.markdown());

    assert!(plant::duplicate_object(&run.state_file, "groups").unwrap());
    let report = checked(&run).await;
    assert_eq!(report.duplicates.len(), 1, "{}", report.markdown());
    assert!(!report.ok());
}
