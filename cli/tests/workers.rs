//! Workers end to end over the SQLite queue: outcomes (retry, abort, panic, snooze, timeout,
//! cancellation), lease renewal, prompt wake-ups, and graceful and forced shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{OPS_TOKEN, in_state, poll_until, spawn_app};
use dezky_cli::shutdown::Shutdown;
use dezky_jobs::{JobContext, JobError, JobKind, KindSettings, Registry};
use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{DynQueue, JobId, JobState, NewJob};
use dezky_worker::WorkerConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn transient_failure_retries_then_succeeds() {
    let app = spawn_app().await;
    let id = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "retry", "succeed_on_attempt": 2}}))
        .await;
    let job = app
        .wait_for_job(&id, Duration::from_secs(15), in_state("succeeded"))
        .await;
    assert_eq!(job["attempt"], 2);
    assert_eq!(job["errors"].as_array().unwrap().len(), 1);
    assert_eq!(job["errors"][0]["class"], "transient");
    assert_eq!(job["result"], json!({"succeeded_on_attempt": 2}));
    app.stop().await;
}

#[tokio::test]
async fn permanent_failure_and_panic_are_dead_at_once() {
    let app = spawn_app().await;
    let aborted = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "abort"}}))
        .await;
    let panicked = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "panic"}}))
        .await;
    for (id, class) in [(aborted, "permanent"), (panicked, "panic")] {
        let job = app
            .wait_for_job(&id, Duration::from_secs(10), in_state("dead"))
            .await;
        assert_eq!(job["attempt"], 1, "{class}");
        assert_eq!(job["errors"][0]["class"], class);
    }
    app.stop().await;
}

#[tokio::test]
async fn snooze_keeps_the_only_attempt() {
    let app = spawn_app().await;
    let id = app
        .enqueue_ok(json!({"kind": "fail", "max_attempts": 1, "args": {"mode": "snooze"}}))
        .await;
    let job = app
        .wait_for_job(&id, Duration::from_secs(10), |j| {
            j["snoozes"].as_u64().unwrap_or(0) >= 1 && j["state"] == "scheduled"
        })
        .await;
    assert_eq!(job["attempt"], 0, "a snooze refunds the attempt: {job}");
    assert_eq!(job["errors"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_running_job_stops_its_handler() {
    let app = spawn_app().await;
    let id = app
        .enqueue_ok(json!({"kind": "sleep", "args": {"ms": 600000}}))
        .await;
    app.wait_for_job(&id, Duration::from_secs(10), in_state("running"))
        .await;
    let r = app
        .client
        .post(app.url(&format!("/v1/jobs/{id}/cancel")))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    let requested: Value = r.json().await.unwrap();
    assert_eq!(
        (
            requested["state"].as_str(),
            requested["cancel_requested"].as_bool()
        ),
        (Some("running"), Some(true))
    );
    app.wait_for_job(&id, Duration::from_secs(10), in_state("cancelled"))
        .await;
    app.stop().await;
}

// ---- workers driven directly, with kinds made for the test ----

/// Sleeps `ms`, ignoring cancellation; per-kind timeout set by the test.
struct Slow {
    timeout: Duration,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct SlowArgs {
    ms: u64,
}

impl JobKind for Slow {
    type Args = SlowArgs;
    const NAME: &'static str = "slow";

    fn settings(&self) -> KindSettings {
        KindSettings {
            timeout: self.timeout,
            concurrency: 1,
            max_attempts: 2,
        }
    }

    async fn run(&self, _ctx: JobContext, args: SlowArgs) -> Result<Value, JobError> {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        Ok(json!({"slept": args.ms}))
    }
}

struct Harness {
    queue: DynQueue,
    stop: Shutdown,
    workers: tokio::task::JoinHandle<Result<(), dezky_worker::pool::WorkerError>>,
    _dir: tempfile::TempDir,
}

async fn start_workers(timeout: Duration, config: WorkerConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let queue: DynQueue = Arc::new(SqliteQueue::open_default(&url).await.unwrap());
    let registry = Registry::new().register(Slow { timeout });
    let stop = Shutdown::default();
    let workers = tokio::spawn(dezky_worker::run_workers(
        queue.clone(),
        registry,
        config,
        stop.wait(),
    ));
    Harness {
        queue,
        stop,
        workers,
        _dir: dir,
    }
}

async fn push_slow(queue: &DynQueue, ms: u64) -> JobId {
    queue
        .push(NewJob {
            max_attempts: 2,
            ..NewJob::new("slow", json!({ "ms": ms }))
        })
        .await
        .unwrap()
        .id
}

async fn state_of(queue: &DynQueue, id: &JobId) -> (JobState, u32) {
    let job = queue.get(id).await.unwrap().unwrap();
    (job.state, job.attempt)
}

async fn wait_state(queue: &DynQueue, id: &JobId, state: JobState) {
    let reached = poll_until(Duration::from_secs(15), || async {
        state_of(queue, id).await.0 == state
    })
    .await;
    assert!(
        reached,
        "job never reached {state}; now {:?}",
        state_of(queue, id).await
    );
}

fn quick(config: WorkerConfig) -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(50),
        ..config
    }
}

#[tokio::test]
async fn an_attempt_past_its_timeout_is_retried_then_dead() {
    let h = start_workers(Duration::from_millis(100), quick(WorkerConfig::default())).await;
    let id = push_slow(&h.queue, 60_000).await;
    wait_state(&h.queue, &id, JobState::Dead).await;
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(job.attempt, 2);
    assert!(
        job.errors.iter().all(|e| e.class == "timeout"),
        "{:?}",
        job.errors
    );
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}

#[tokio::test]
async fn renewal_keeps_a_long_job_on_one_attempt() {
    let config = WorkerConfig {
        lease_ttl: Duration::from_millis(600),
        heartbeat: Duration::from_millis(150),
        ..WorkerConfig::default()
    };
    let h = start_workers(Duration::from_secs(60), quick(config)).await;
    let id = push_slow(&h.queue, 2_000).await;
    wait_state(&h.queue, &id, JobState::Succeeded).await;
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(
        job.attempt, 1,
        "the lease was renewed, so the job ran once: {:?}",
        job.errors
    );
    assert!(job.errors.is_empty());
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_idle_worker_starts_a_pushed_job_without_waiting_for_its_poll() {
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(3600),
        ..WorkerConfig::default()
    };
    let h = start_workers(Duration::from_secs(60), config).await;
    // A first job that runs a while: the worker fetches again meanwhile, finds nothing, and goes
    // idle on its hour-long poll.
    let first = push_slow(&h.queue, 300).await;
    wait_state(&h.queue, &first, JobState::Succeeded).await;
    let id = push_slow(&h.queue, 1).await;
    wait_state(&h.queue, &id, JobState::Succeeded).await;
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_running_jobs_and_releases_the_rest() {
    let h = start_workers(Duration::from_secs(60), quick(WorkerConfig::default())).await;
    let running = push_slow(&h.queue, 500).await;
    wait_state(&h.queue, &running, JobState::Running).await;
    let waiting = push_slow(&h.queue, 500).await;
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
    assert_eq!(state_of(&h.queue, &running).await, (JobState::Succeeded, 1));
    assert_eq!(
        state_of(&h.queue, &waiting).await,
        (JobState::Available, 0),
        "never started: no attempt spent"
    );
}

#[tokio::test]
async fn forced_shutdown_releases_cut_off_jobs_without_spending_the_attempt() {
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(200),
        ..quick(WorkerConfig::default())
    };
    let h = start_workers(Duration::from_secs(60), config).await;
    let id = push_slow(&h.queue, 60_000).await;
    wait_state(&h.queue, &id, JobState::Running).await;
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
    assert_eq!(state_of(&h.queue, &id).await, (JobState::Available, 0));
}
