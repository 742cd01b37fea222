//! The dependency gate. Three worker processes and a simulated Authentik that answers 503 for
//! 30 s: the requests reaching it stay at or under 1.5 a second (its own counter), the API's
//! `/readyz` shows the gate closed meanwhile, and once Authentik is back every job succeeds
//! within 3 attempts. The horizon, on a manual clock: a job that waited on the gate for longer
//! than it goes dead with a clear reason, one that waited less does not.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{all_succeed, enqueue_at, job_at, poll_until, start_three_on_redis};
use dezky_authentik::{AuthentikClient, ClientConfig};
use dezky_authentik_sim::faults::{Down, Faults};
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_cli::shutdown::Shutdown;
use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig};
use dezky_queue::{DynQueue, JobState, ManualClock, NewJob};
use dezky_worker::WorkerConfig;
use dezky_worker::gate::{GATE_CLOSED, GateConfig, authentik_gate};
use serde_json::{Value, json};
use tokio::time::Instant;

const SIM_TOKEN: &str = "sim-gate-token";

async fn simulator() -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    dezky_authentik_sim::spawn(SimConfig::new(SIM_TOKEN), listener)
        .await
        .unwrap()
}

fn down(sim: &Simulator) {
    sim.sim.faults.set(Faults {
        down: Some(Down::Unavailable),
        ..Faults::default()
    });
}

fn answered_while_down(sim: &Simulator) -> u64 {
    sim.sim.faults.unavailable_answers.load(Ordering::SeqCst)
}

async fn gate_shown(client: &reqwest::Client, port: u16) -> Value {
    let url = format!("http://127.0.0.1:{port}/readyz");
    common::get_json(client, &url, None).await["gates"]["authentik"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_ask_a_down_authentik_at_most_once_a_second() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let client = common::http();
    let extra = [
        ("DEZKY_AUTHENTIK_URL", sim.api_url()),
        ("DEZKY_AUTHENTIK_TOKEN", SIM_TOKEN.to_owned()),
        ("DEZKY_WORKER_KINDS", "authentik-version".to_owned()),
    ];
    let (ports, _processes, _guard) = start_three_on_redis(&client, dir.path(), &extra).await;
    for &port in &ports {
        assert_eq!(gate_shown(&client, port).await, "open");
    }

    down(&sim);
    let down_at = Instant::now();
    // Nine jobs at once, three a process: they are running together when they find Authentik
    // down, so each one's in-call retries would show if the gate let them through.
    let mut enqueues = tokio::task::JoinSet::new();
    for n in 0..9 {
        let (client, port) = (client.clone(), ports[n % ports.len()]);
        enqueues.spawn(async move {
            enqueue_at(
                &client,
                port,
                json!({"kind": "authentik-version", "args": {}}),
            )
            .await
        });
    }
    let ids: Vec<String> = enqueues
        .join_all()
        .await
        .into_iter()
        .map(|id| id.0)
        .collect();
    // The first failures close the gate for the whole deployment.
    assert!(
        poll_until(Duration::from_secs(10), || async {
            for &port in &ports {
                if gate_shown(&client, port).await != "closed" {
                    return false;
                }
            }
            true
        })
        .await,
        "the gate did not close"
    );
    // The outage lasts 30 s: the stimulus, not a wait for something to happen.
    tokio::time::sleep_until(down_at + Duration::from_secs(30)).await;
    let answered = answered_while_down(&sim);
    let elapsed = down_at.elapsed().as_secs_f64();
    sim.sim.faults.set(Faults::default());
    let rate = answered as f64 / elapsed;
    eprintln!("{answered} requests reached the down Authentik in {elapsed:.1} s ({rate:.2}/s)");
    assert!(
        rate <= 1.5,
        "{answered} requests reached the down Authentik in {elapsed:.1} s ({rate:.2}/s)"
    );
    assert!(
        answered >= 10,
        "nobody probed: {answered} requests in {elapsed:.1} s"
    );

    let job = |id: String| {
        let client = &client;
        async move { job_at(client, ports[0], &id).await }
    };
    assert!(
        all_succeed(&client, ports[0], &ids, Duration::from_secs(30)).await,
        "not every job succeeded once Authentik was back"
    );
    let mut waited = 0;
    for id in &ids {
        let j = job(id.clone()).await;
        assert!(
            j["attempt"].as_u64().unwrap() <= 3,
            "too many attempts: {j}"
        );
        waited += usize::from(
            j["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["class"] == GATE_CLOSED),
        );
    }
    assert!(waited >= 1, "no job waited on the gate");
    for &port in &ports {
        assert_eq!(gate_shown(&client, port).await, "open");
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_waited_past_the_horizon_goes_dead() {
    let sim = simulator().await;
    down(&sim);
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let queue: DynQueue = Arc::new(
        SqliteQueue::open(&url, Arc::new(clock.clone()), SqliteQueueConfig::default())
            .await
            .unwrap(),
    );
    let registry = dezky_jobs::kinds::registry(true);
    let client = AuthentikClient::new(ClientConfig::new(&sim.api_url(), SIM_TOKEN)).unwrap();
    let horizon = Duration::from_secs(3600);
    let gate_config = GateConfig {
        horizon,
        probe_interval: Duration::from_millis(100),
        watch_interval: Duration::from_millis(50),
        clock: Arc::new(clock.clone()),
    };
    let (gate, gated) = authentik_gate(queue.clone(), &client, &registry, gate_config);
    let hooks = dezky_worker::Hooks {
        services: dezky_jobs::Services {
            authentik: Some(gated),
            ..Default::default()
        },
        gates: vec![gate],
        ..Default::default()
    };
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        kinds: Some(vec!["authentik-version".into()]),
        ..WorkerConfig::default()
    };
    let stop = Shutdown::default();
    let workers = tokio::spawn(dezky_worker::run_observed_workers(
        queue.clone(),
        registry,
        config,
        hooks,
        stop.wait(),
    ));

    let id = queue
        .push(NewJob::new("authentik-version", json!({})))
        .await
        .unwrap()
        .id;
    let blocked = poll_until(Duration::from_secs(15), || async {
        let job = queue.get(&id).await.unwrap().unwrap();
        job.errors.iter().any(|e| e.class == GATE_CLOSED)
    })
    .await;
    assert!(blocked, "the job never waited on the gate");
    assert!(
        queue.lock_held("gate:authentik").await.unwrap(),
        "gate closed"
    );

    // Probes go on; a sweep after each advance (the prober sweeps once its clock moved).
    let probes_after = |from: u64| {
        let sim = &sim;
        async move {
            poll_until(Duration::from_secs(15), || async {
                answered_while_down(sim) >= from + 3
            })
            .await
        }
    };
    clock.advance(horizon - Duration::from_secs(60));
    assert!(probes_after(answered_while_down(&sim)).await);
    let job = queue.get(&id).await.unwrap().unwrap();
    assert!(
        matches!(job.state, JobState::Scheduled | JobState::Available),
        "discarded before its horizon: {job:?}"
    );
    assert_eq!(job.attempt, 0, "waiting spent an attempt");

    clock.advance(Duration::from_secs(120));
    let dead = poll_until(Duration::from_secs(15), || async {
        queue.get(&id).await.unwrap().unwrap().state == JobState::Dead
    })
    .await;
    let job = queue.get(&id).await.unwrap().unwrap();
    assert!(dead, "the job outlived the horizon: {job:?}");
    let last = job.errors.last().unwrap();
    assert!(
        last.message.contains("DEZKY_GATE_HORIZON_SECS") && last.message.contains("authentik"),
        "unclear reason: {last:?}"
    );
    stop.trigger();
    workers.await.unwrap().unwrap();
    sim.stop().await;
}
