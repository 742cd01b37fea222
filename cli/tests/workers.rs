//! Workers end to end over the SQLite queue: outcomes (retry, abort, panic, snooze, timeout,
//! cancellation), lease renewal (one call per process and beat; a handler whose lease cannot be
//! renewed is stopped before it expires), prompt wake-ups, and graceful and forced shutdown (an
//! ack in flight is never released).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{OPS_TOKEN, in_state, poll_until, spawn_app};
use dezky_cli::shutdown::Shutdown;
use dezky_jobs::kinds::builtin::Sleep;
use dezky_jobs::{JobContext, JobError, JobKind, KindSettings, Registry, StopReason};
use dezky_queue::contract::faulty::Faulty;
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
async fn permanent_failure_is_dead_at_once() {
    let app = spawn_app().await;
    let aborted = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "abort"}}))
        .await;
    let job = app
        .wait_for_job(&aborted, Duration::from_secs(10), in_state("dead"))
        .await;
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["errors"][0]["class"], "permanent");
    app.stop().await;
}

/// A panic is retried like any error (an `unwrap()` on a transient failure must not kill the job
/// for good), and dead once its attempts are spent.
#[tokio::test]
async fn a_panic_is_retried_like_an_error() {
    let app = spawn_app().await;
    let recovers = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "panic", "succeed_on_attempt": 2}}))
        .await;
    let always = app
        .enqueue_ok(json!({"kind": "fail", "max_attempts": 2, "args": {"mode": "panic"}}))
        .await;
    let job = app
        .wait_for_job(&recovers, Duration::from_secs(15), in_state("succeeded"))
        .await;
    assert_eq!(job["attempt"], 2, "{job}");
    assert_eq!(job["errors"][0]["class"], "panic");
    let job = app
        .wait_for_job(&always, Duration::from_secs(15), in_state("dead"))
        .await;
    assert_eq!(job["attempt"], 2, "{job}");
    let classes: Vec<&str> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["panic", "panic"]);
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
            ..KindSettings::default()
        }
    }

    async fn run(&self, _ctx: JobContext, args: SlowArgs) -> Result<dezky_jobs::Output, JobError> {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        Ok(json!({"slept": args.ms}).into())
    }
}

/// Runs until dropped, ignoring every stop request; records when it started and was dropped.
struct Stubborn;

type Lifetimes = Mutex<HashMap<String, (Instant, Option<Instant>)>>;

fn lifetimes() -> &'static Lifetimes {
    static LIFETIMES: OnceLock<Lifetimes> = OnceLock::new();
    LIFETIMES.get_or_init(Lifetimes::default)
}

struct DropRecorder(String);

impl Drop for DropRecorder {
    fn drop(&mut self) {
        if let Some(entry) = lifetimes().lock().unwrap().get_mut(&self.0) {
            entry.1 = Some(Instant::now());
        }
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct StubbornArgs {}

impl JobKind for Stubborn {
    type Args = StubbornArgs;
    const NAME: &'static str = "stubborn";

    async fn run(
        &self,
        ctx: JobContext,
        _args: StubbornArgs,
    ) -> Result<dezky_jobs::Output, JobError> {
        lifetimes()
            .lock()
            .unwrap()
            .insert(ctx.id.clone(), (Instant::now(), None));
        let _recorder = DropRecorder(ctx.id.clone());
        std::future::pending::<()>().await;
        Ok(Value::Null.into())
    }
}

/// Answers `Cancelled`: at once (`on_stop: false`), or when asked to stop, after recording why.
struct Quitter;

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct QuitterArgs {
    on_stop: bool,
}

/// Per job: `None` once its handler started, then why it was asked to stop.
fn stop_reasons() -> &'static Mutex<HashMap<String, Option<StopReason>>> {
    static REASONS: OnceLock<Mutex<HashMap<String, Option<StopReason>>>> = OnceLock::new();
    REASONS.get_or_init(Mutex::default)
}

impl JobKind for Quitter {
    type Args = QuitterArgs;
    const NAME: &'static str = "quitter";

    async fn run(
        &self,
        ctx: JobContext,
        args: QuitterArgs,
    ) -> Result<dezky_jobs::Output, JobError> {
        if args.on_stop {
            stop_reasons().lock().unwrap().insert(ctx.id.clone(), None);
            let reason = ctx.stopped().await;
            stop_reasons()
                .lock()
                .unwrap()
                .insert(ctx.id.clone(), Some(reason));
        }
        Err(JobError::Cancelled)
    }
}

struct Harness {
    queue: DynQueue,
    /// The same queue, for injecting faults.
    faulty: Arc<Faulty>,
    stop: Shutdown,
    workers: tokio::task::JoinHandle<Result<(), dezky_worker::pool::WorkerError>>,
    _dir: tempfile::TempDir,
}

async fn start_workers(timeout: Duration, config: WorkerConfig) -> Harness {
    start_registry(Registry::new().register(Slow { timeout }), config).await
}

async fn start_registry(registry: Registry, config: WorkerConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let sqlite: DynQueue = Arc::new(SqliteQueue::open_default(&url).await.unwrap());
    let faulty = Arc::new(Faulty::new(sqlite));
    let queue: DynQueue = faulty.clone();
    let stop = Shutdown::default();
    let workers = tokio::spawn(dezky_worker::run_workers(
        queue.clone(),
        registry,
        config,
        stop.wait(),
    ));
    Harness {
        queue,
        faulty,
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

/// A forced shutdown (the grace runs out while an ack is being written) never releases the lease
/// of that ack: the success is recorded, not lost to a release that refunds the attempt.
#[tokio::test]
async fn a_forced_shutdown_never_releases_a_job_whose_success_is_being_written() {
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(300),
        ..quick(WorkerConfig::default())
    };
    let h = start_workers(Duration::from_secs(60), config).await;
    h.faulty.delay_acks(Duration::from_millis(1500));
    let id = push_slow(&h.queue, 50).await;
    // Stop once the success is being written (a job merely leased may still wait in the source,
    // and a job not started is rightly given back).
    let faulty = h.faulty.clone();
    assert!(
        poll_until(Duration::from_secs(10), || async {
            faulty.acks_begun() >= 1
        })
        .await
    );
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
    assert_eq!(
        state_of(&h.queue, &id).await,
        (JobState::Succeeded, 1),
        "the success being written when the grace ran out was kept"
    );
}

/// One process renews all its leases in one call per beat, whatever the number of kinds.
#[tokio::test]
async fn one_renewal_call_per_beat_covers_every_kind() {
    let heartbeat = Duration::from_millis(100);
    let config = WorkerConfig {
        heartbeat,
        lease_ttl: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(100),
        ..quick(WorkerConfig::default())
    };
    let registry = Registry::new()
        .register(Slow {
            timeout: Duration::from_secs(60),
        })
        .register(Sleep);
    let h = start_registry(registry, config).await;
    let slow = push_slow(&h.queue, 60_000).await;
    let sleep = h
        .queue
        .push(NewJob::new("sleep", json!({"ms": 60_000})))
        .await
        .unwrap()
        .id;
    wait_state(&h.queue, &slow, JobState::Running).await;
    wait_state(&h.queue, &sleep, JobState::Running).await;
    let since = Instant::now();
    let calls_since = || -> Vec<(Instant, usize)> {
        h.faulty
            .renewals()
            .into_iter()
            .filter(|(at, _)| *at >= since)
            .collect()
    };
    assert!(
        poll_until(Duration::from_secs(10), || async {
            calls_since().len() >= 6
        })
        .await,
        "leases were not renewed"
    );
    let calls = calls_since();
    assert!(
        calls.iter().all(|(_, leases)| *leases == 2),
        "every call renews both leases: {calls:?}"
    );
    for pair in calls.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= heartbeat / 2,
            "two renewal calls {gap:?} apart: leases are renewed once per kind, not once per process"
        );
    }
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}

/// A worker that cannot renew a lease stops the handler itself before the lease expires (another
/// worker may take the job then), even a handler that ignores stop requests, and records nothing:
/// whether renewals fail at once or hang.
async fn handler_is_stopped_before_its_unrenewed_lease_expires(fault: impl Fn(&Faulty)) {
    // The handler is stopped ttl/10 = 300 ms before expiry: room for a loaded machine.
    let ttl = Duration::from_secs(3);
    let config = WorkerConfig {
        lease_ttl: ttl,
        heartbeat: Duration::from_secs(1),
        shutdown_grace: Duration::from_millis(100),
        ..quick(WorkerConfig::default())
    };
    let h = start_registry(Registry::new().register(Stubborn), config).await;
    fault(&h.faulty);
    let id = h
        .queue
        .push(NewJob::new("stubborn", json!({})))
        .await
        .unwrap()
        .id;
    let lifetime = || lifetimes().lock().unwrap().get(id.as_str()).copied();
    let stopped = poll_until(Duration::from_secs(10), || async {
        lifetime().is_some_and(|(_, dropped)| dropped.is_some())
    })
    .await;
    assert!(stopped, "the handler kept running without a renewed lease");
    let (started, dropped) = lifetime().unwrap();
    let ran = dropped.unwrap() - started;
    assert!(
        ran < ttl,
        "the handler ran {ran:?}, past its lease's {ttl:?}"
    );
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!((job.state, job.errors.len()), (JobState::Running, 0));
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_handler_whose_lease_cannot_be_renewed_is_stopped_before_it_expires() {
    handler_is_stopped_before_its_unrenewed_lease_expires(|f| f.fail_renewals(true)).await;
}

#[tokio::test]
async fn a_handler_is_stopped_on_time_while_a_renewal_hangs() {
    handler_is_stopped_before_its_unrenewed_lease_expires(|f| {
        f.delay_renewals(Duration::from_secs(20))
    })
    .await;
}

/// Handlers learn why they are asked to stop, and only a real cancel request ends a job
/// `cancelled`: at shutdown a handler that stops is given back (attempt refunded), and one that
/// answers `Cancelled` unasked is retried (class `stopped`).
#[tokio::test]
async fn stop_reasons_decide_what_a_cancelled_answer_records() {
    let h = start_registry(
        Registry::new().register(Quitter),
        quick(WorkerConfig::default()),
    )
    .await;
    let push = |on_stop: bool, max_attempts: u32| {
        let queue = h.queue.clone();
        async move {
            queue
                .push(NewJob {
                    max_attempts,
                    ..NewJob::new("quitter", json!({ "on_stop": on_stop }))
                })
                .await
                .unwrap()
                .id
        }
    };
    let unasked = push(false, 1).await;
    wait_state(&h.queue, &unasked, JobState::Dead).await;
    let job = h.queue.get(&unasked).await.unwrap().unwrap();
    assert_eq!(job.errors[0].class, "stopped", "{:?}", job.errors);

    let started = |id: &JobId| stop_reasons().lock().unwrap().contains_key(id.as_str());
    let cancelled = push(true, 5).await;
    assert!(poll_until(Duration::from_secs(10), || async { started(&cancelled) }).await);
    h.queue.cancel(&cancelled).await.unwrap();
    wait_state(&h.queue, &cancelled, JobState::Cancelled).await;
    assert_eq!(
        stop_reasons().lock().unwrap().get(cancelled.as_str()),
        Some(&Some(StopReason::Cancel))
    );

    let interrupted = push(true, 5).await;
    assert!(poll_until(Duration::from_secs(10), || async { started(&interrupted) }).await);
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
    assert_eq!(
        stop_reasons().lock().unwrap().get(interrupted.as_str()),
        Some(&Some(StopReason::Shutdown))
    );
    assert_eq!(
        state_of(&h.queue, &interrupted).await,
        (JobState::Available, 0),
        "given back at shutdown, attempt refunded"
    );
}

/// Jobs leased by a fetch still in flight when shutdown begins are held and given back (attempt
/// refunded), though apalis no longer polls the source: none is left leased until it expires.
#[tokio::test]
async fn a_fetch_in_flight_at_shutdown_gives_its_jobs_back() {
    let config = WorkerConfig {
        shutdown_grace: Duration::from_millis(300),
        concurrency: Some(2),
        ..quick(WorkerConfig::default())
    };
    let h = start_workers(Duration::from_secs(60), config).await;
    let running = push_slow(&h.queue, 60_000).await;
    wait_state(&h.queue, &running, JobState::Running).await;
    h.faulty.delay_fetch_replies(Duration::from_secs(2));
    let fetched = push_slow(&h.queue, 10).await;
    wait_state(&h.queue, &fetched, JobState::Running).await;
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
    assert_eq!(state_of(&h.queue, &running).await, (JobState::Available, 0));
    assert_eq!(
        state_of(&h.queue, &fetched).await,
        (JobState::Available, 0),
        "a job leased by the fetch in flight was left leased"
    );
}

/// Every attempt leaves a row in the store's run history, written when it starts and completed
/// with how it ended.
#[tokio::test]
async fn attempts_are_kept_in_the_run_history() {
    let app = spawn_app().await;
    let id = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "retry", "succeed_on_attempt": 2}}))
        .await;
    app.wait_for_job(&id, Duration::from_secs(20), in_state("succeeded"))
        .await;
    // Written by a task of its own, shortly after.
    let store = app.store.clone();
    assert!(
        poll_until(Duration::from_secs(10), || async {
            let runs = store.runs(&id).await.unwrap();
            runs.len() == 2 && runs.iter().all(|r| r.outcome.is_some())
        })
        .await
    );
    let runs = app.store.runs(&id).await.unwrap();
    let summary: Vec<(i32, Option<&str>)> = runs
        .iter()
        .map(|r| (r.attempt, r.outcome.as_deref()))
        .collect();
    assert_eq!(summary, [(1, Some("retry")), (2, Some("succeeded"))]);
    assert!(runs[0].error.as_deref().is_some_and(|e| !e.is_empty()));
    assert!(runs.iter().all(|r| r.finished_at >= Some(r.started_at)));
    app.stop().await;
}

/// A payload that does not fit its kind (pushed past the API's validation, or written by an older
/// release) ends the job dead at once, class `invalid_args`: no retry can make it fit.
#[tokio::test]
async fn args_that_do_not_fit_the_kind_end_the_job_dead() {
    let h = start_workers(Duration::from_secs(60), quick(WorkerConfig::default())).await;
    let id = h
        .queue
        .push(NewJob {
            max_attempts: 5,
            ..NewJob::new("slow", json!({ "ms": "not a number" }))
        })
        .await
        .unwrap()
        .id;
    wait_state(&h.queue, &id, JobState::Dead).await;
    let job = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(job.attempt, 1);
    assert_eq!(job.errors[0].class, "invalid_args");
    h.stop.trigger();
    h.workers.await.unwrap().unwrap();
}
