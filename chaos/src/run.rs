//! One chaos run from start to report: start the topology, run the workload and the nemesis
//! together, heal everything, time the drain, stop, read what the run left and check it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dezky_queue::{DynQueue, Job, JobFilter, JobId, JobState, QueueError};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::checker::{ExpectedTicks, Observations, check};
use crate::nemesis::{Event, Fault, PlanConfig, plan};
use crate::report::{Figures, Report, UnavailableWindow};
use crate::topology::{Role, Topology, TopologyConfig};
use crate::workload::{Rates, Workload};

/// A run's settings.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The processes.
    pub topology: TopologyConfig,
    /// How long the workload and the faults go on.
    pub duration: Duration,
    /// How long each stretch of Authentik's unavailability lasts.
    pub unavailable: Duration,
    /// What the workload sends.
    pub rates: Rates,
    /// The seed of the workload and the nemesis.
    pub seed: u64,
    /// How long the drain may take before the run gives up waiting.
    pub drain_deadline: Duration,
    /// Faults to plant after the run, before the check (to see the checker catch them).
    pub plant: bool,
    /// Bounds on the timing figures, gated in long runs (a short run's figures are too few).
    pub timing_bounds: Option<TimingBounds>,
}

/// The most the timing figures may be.
#[derive(Debug, Clone, Copy)]
pub struct TimingBounds {
    /// Recovery after a worker kill, 99th percentile.
    pub recovery_p99: Duration,
    /// The drain after healing.
    pub drain: Duration,
}

/// The timing figures past `bounds`.
fn timing_exceeded(figures: &Figures, bounds: &TimingBounds) -> Vec<String> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut exceeded = Vec::new();
    if let Some(p99) = figures
        .recovery_p99_ms
        .filter(|v| *v > ms(bounds.recovery_p99))
    {
        exceeded.push(format!(
            "recovery p99 {p99} ms > {} ms",
            ms(bounds.recovery_p99)
        ));
    }
    match figures.drain_ms {
        Some(drain) if drain <= ms(bounds.drain) => {}
        drain => exceeded.push(format!("drain {drain:?} ms > {} ms", ms(bounds.drain))),
    }
    exceeded
}

type Shared = Arc<Mutex<Topology>>;

fn lock(topology: &Shared) -> std::sync::MutexGuard<'_, Topology> {
    topology.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Polls `check` every 100 ms until it holds (→ `true`) or `within` passes (→ `false`).
async fn poll_until<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether something accepts connections on `port`.
async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// Starts `role` and waits until it is ready: `/readyz` for the product's processes, a
/// connection for Redis and the simulator. Like a supervisor, it starts the process again when
/// it exits first (a process that finds Redis down at start exits).
async fn start_ready(
    topology: &Shared,
    client: &reqwest::Client,
    role: Role,
) -> anyhow::Result<()> {
    let port = {
        let mut t = lock(topology);
        t.start(role)?;
        t.port(role)
    };
    let ready = poll_until(Duration::from_secs(60), || async {
        {
            let mut t = lock(topology);
            if t.exited(role) {
                eprintln!("chaos: {role} exited before it was ready; starting it again");
                if let Err(e) = t.start(role) {
                    eprintln!("chaos: {e}");
                }
                return false;
            }
        }
        match role {
            Role::Redis | Role::Sim => listening(port).await,
            _ => client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
        }
    })
    .await;
    anyhow::ensure!(ready, "{role} did not become ready in 60 s (see its log)");
    Ok(())
}

async fn open_queue(topology: &Shared) -> anyhow::Result<DynQueue> {
    let (database, redis) = lock(topology).queue_location();
    Ok(match redis {
        Some((url, prefix)) => {
            Arc::new(dezky_queue::redis::RedisQueue::connect_default(&url, &prefix).await?)
        }
        None => Arc::new(dezky_queue::sqlite::SqliteQueue::open_default(&database).await?),
    })
}

/// Sets the simulator's faults (its admin endpoint).
async fn sim_faults(client: &reqwest::Client, topology: &Shared, faults: &Value) -> bool {
    let (url, token) = {
        let t = lock(topology);
        (
            format!("{}/_sim/faults", t.sim_url()),
            t.sim_admin_token.clone(),
        )
    };
    client
        .put(url)
        .bearer_auth(token)
        .json(faults)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The simulator's requests per second since it started.
async fn sim_stats(client: &reqwest::Client, topology: &Shared) -> BTreeMap<u64, u64> {
    let (url, token) = {
        let t = lock(topology);
        (
            format!("{}/_sim/stats", t.sim_url()),
            t.sim_admin_token.clone(),
        )
    };
    let Ok(answer) = client.get(url).bearer_auth(token).send().await else {
        return BTreeMap::new();
    };
    let stats: Value = answer.json().await.unwrap_or_default();
    stats["per_second"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(s, n)| Some((s.parse().ok()?, n.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `job` runs in the worker process `pid` (worker names are `<kind>@<pid>-<ulid>`).
fn runs_in(job: &Job, pid: u32) -> bool {
    job.state == JobState::Running
        && job
            .worker
            .as_deref()
            .is_some_and(|w| w.contains(&format!("@{pid}-")))
}

/// The running jobs a worker process holds.
async fn held_by(queue: &DynQueue, pid: u32) -> Vec<JobId> {
    let filter = JobFilter {
        state: Some(JobState::Running),
        limit: 500,
        ..JobFilter::default()
    };
    queue.list(filter).await.map_or_else(
        |_| Vec::new(),
        |page| {
            page.jobs
                .into_iter()
                .filter(|j| runs_in(j, pid))
                .map(|j| j.id)
                .collect()
        },
    )
}

/// What the nemesis measured.
#[derive(Debug, Default)]
struct Measured {
    /// Per worker kill that held jobs: ms until none of its jobs was held by it any more.
    recoveries_ms: Vec<u64>,
    unavailable: Vec<UnavailableWindow>,
}

/// Carries out one fault and undoes it.
async fn carry_out(
    event: Event,
    topology: Shared,
    queue: DynQueue,
    client: reqwest::Client,
    reset_rate: f64,
    measured: Arc<Mutex<Measured>>,
) {
    match event.fault {
        Fault::Kill { role, down_ms } => {
            let pid = lock(&topology).pid(role);
            let held = match (role, pid) {
                (Role::Worker(_), Some(pid)) => held_by(&queue, pid).await,
                _ => Vec::new(),
            };
            let killed_at = Instant::now();
            lock(&topology).kill(role);
            let restart = {
                let topology = topology.clone();
                let client = client.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(down_ms)).await;
                    if let Err(e) = start_ready(&topology, &client, role).await {
                        eprintln!("chaos: restarting {role}: {e}");
                    }
                }
            };
            let recover = async {
                if held.is_empty() {
                    return;
                }
                let back = poll_until(Duration::from_secs(120), || async {
                    for id in &held {
                        match queue.get(id).await {
                            Ok(Some(job)) if pid.is_some_and(|pid| runs_in(&job, pid)) => {
                                return false;
                            }
                            Err(_) => return false,
                            _ => {}
                        }
                    }
                    true
                })
                .await;
                if back {
                    let ms = u64::try_from(killed_at.elapsed().as_millis()).unwrap_or(u64::MAX);
                    lock_measured(&measured).recoveries_ms.push(ms);
                }
            };
            tokio::join!(restart, recover);
        }
        Fault::Pause { worker, ms } => {
            let role = Role::Worker(worker);
            let pid = lock(&topology).pid(role);
            lock(&topology).signal(role, "STOP");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut t = lock(&topology);
            if t.pid(role) == pid {
                t.signal(role, "CONT");
            }
        }
        Fault::Unavailable { ms } => {
            let from = now_ms();
            let down = json!({"down": "unavailable", "reset_after_commit_rate": reset_rate});
            if !sim_faults(&client, &topology, &down).await {
                eprintln!("chaos: could not make the simulator unavailable");
                return;
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let to = now_ms();
            let stats = sim_stats(&client, &topology).await;
            let _ = sim_faults(
                &client,
                &topology,
                &json!({"reset_after_commit_rate": reset_rate}),
            )
            .await;
            lock_measured(&measured)
                .unavailable
                .push(UnavailableWindow::from_stats(from, to, &stats));
        }
    }
}

fn lock_measured(m: &Mutex<Measured>) -> std::sync::MutexGuard<'_, Measured> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every role started and ready, none stopped; the simulator without faults.
async fn heal(topology: &Shared, client: &reqwest::Client) -> anyhow::Result<()> {
    let roles = lock(topology).roles();
    for role in roles {
        if lock(topology).is_stopped(role) {
            lock(topology).signal(role, "CONT");
        }
        start_ready(topology, client, role).await?;
    }
    anyhow::ensure!(
        sim_faults(client, topology, &json!({})).await,
        "cannot clear the simulator's faults"
    );
    Ok(())
}

/// The ids of the jobs not finished yet, listed by state: a handful once the faults stop,
/// where listing every job would read thousands at each poll.
async fn unfinished_ids(queue: &DynQueue) -> Result<BTreeSet<String>, QueueError> {
    let mut ids = BTreeSet::new();
    for state in JobState::ALL.into_iter().filter(|s| s.is_unfinished()) {
        let filter = JobFilter {
            state: Some(state),
            ..JobFilter::default()
        };
        ids.extend(crate::observe::jobs_where(queue, filter).await?.into_keys());
    }
    Ok(ids)
}

/// How many of `ids` are not finished: unfinished, or not in the queue at all (all of them when
/// the queue cannot be read).
async fn unfinished(queue: &DynQueue, ids: &BTreeSet<String>) -> usize {
    let Ok(open) = unfinished_ids(queue).await else {
        return ids.len();
    };
    let waiting = ids.iter().filter(|id| open.contains(*id)).count();
    if waiting > 0 {
        return waiting;
    }
    // None is waiting: one listing of every job tells whether any is gone.
    match crate::observe::jobs(queue).await {
        Ok(jobs) => ids.iter().filter(|id| !jobs.contains_key(*id)).count(),
        Err(_) => ids.len(),
    }
}

/// SIGTERMs `role` (after a SIGCONT, should it be stopped), gives it 10 s to exit, then
/// SIGKILLs it.
async fn terminate(topology: &Shared, role: Role) {
    {
        let mut t = lock(topology);
        t.signal(role, "CONT");
        t.signal(role, "TERM");
    }
    let _ = poll_until(Duration::from_secs(10), || {
        let gone = {
            let mut t = lock(topology);
            !t.is_running(role) || t.exited(role)
        };
        async move { gone }
    })
    .await;
    lock(topology).kill(role);
}

/// The ticks of a schedule of period `every` between the first scheduler's start and the
/// schedulers' stop: those well inside are required, those at the edges allowed.
fn ticks(kind: &str, every_secs: u64, from_ms: i64, to_ms: i64) -> ExpectedTicks {
    let period = i64::try_from(every_secs * 1000).unwrap_or(i64::MAX);
    let first = (from_ms - period).div_euclid(period) * period;
    let mut expected = ExpectedTicks {
        kind: kind.into(),
        period_ms: period,
        ..ExpectedTicks::default()
    };
    let mut tick = first;
    // No scheduler runs after `to_ms`.
    while tick <= to_ms {
        expected.allowed.push(tick);
        // A scheduler's first pass records a baseline rather than a tick, and the last tick
        // before the stop may be too late to be pushed.
        if tick > from_ms + period && tick + 2_000 < to_ms {
            expected.required.push(tick);
        }
        tick += period;
    }
    expected
}

/// Runs the whole thing; answers the report (its `ok()` says whether every invariant held).
pub async fn run(config: RunConfig) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let reset_rate = config.topology.reset_after_commit_rate;
    let queue_kind = config.topology.queue;
    let seed_every = config.topology.seed_every_secs;
    let reconcile_every = config.topology.reconcile_every_secs;
    let lease_ttl = Duration::from_secs(config.topology.lease_ttl_secs);
    let topology: Shared = Arc::new(Mutex::new(Topology::new(config.topology)?));
    let events = plan(&PlanConfig {
        seed: config.seed,
        duration: config.duration,
        queue: queue_kind,
        lease_ttl,
        unavailable: config.unavailable,
    });
    eprintln!(
        "chaos: seed {}, {} faults planned:",
        config.seed,
        events.len()
    );
    for event in &events {
        eprintln!("  {event}");
    }

    // Redis and the simulator, the API (it migrates the store), then the rest.
    let roles = lock(&topology).roles();
    for role in &roles {
        start_ready(&topology, &client, *role).await?;
    }
    let started_ms = now_ms();
    let queue = open_queue(&topology).await?;
    let (api, token) = {
        let t = lock(&topology);
        (t.api_url(), t.portal_token.clone())
    };
    let workload = Arc::new(Workload::new(api, token, format!("c{}", config.seed)));

    let until = Instant::now() + config.duration;
    let load = tokio::spawn(workload.clone().run(config.rates, config.seed, until));
    let measured = Arc::new(Mutex::new(Measured::default()));
    let faults_began = Instant::now();
    let mut nemesis = tokio::task::JoinSet::new();
    for event in events.iter().copied() {
        let at = faults_began + Duration::from_millis(event.at_ms);
        let (topology, queue, client, measured) = (
            topology.clone(),
            queue.clone(),
            client.clone(),
            measured.clone(),
        );
        nemesis.spawn(async move {
            tokio::time::sleep_until(at).await;
            carry_out(event, topology, queue, client, reset_rate, measured).await;
        });
    }
    while nemesis.join_next().await.is_some() {}
    load.await?;
    heal(&topology, &client).await?;
    let healed = Instant::now();
    eprintln!(
        "chaos: faults over and healed after {:.0}s; draining",
        faults_began.elapsed().as_secs_f64()
    );

    let acks = workload.acks();
    let acked: BTreeSet<String> = acks.iter().map(|a| a.job.clone()).collect();
    let drained = poll_until(config.drain_deadline, || async {
        unfinished(&queue, &acked).await == 0
    })
    .await;
    let drain_ms = u64::try_from(healed.elapsed().as_millis()).unwrap_or(u64::MAX);
    if !drained {
        eprintln!(
            "chaos: {} acknowledged jobs still unfinished after {:?}",
            unfinished(&queue, &acked).await,
            config.drain_deadline
        );
    }

    if config.plant {
        // While the schedulers run, so the planted tick's job has a twin however the clock
        // falls.
        crate::plant::plant_in_queue(&queue, &acks, "seed").await?;
    }
    // Stop the schedulers, let their last ticks' jobs finish, stop the rest.
    for n in 0..2 {
        terminate(&topology, Role::Scheduler(n)).await;
    }
    let stopped_ms = now_ms();
    let _ = poll_until(Duration::from_secs(120), || async {
        unfinished_ids(&queue).await.is_ok_and(|ids| ids.is_empty())
    })
    .await;
    for role in [
        Role::Worker(0),
        Role::Worker(1),
        Role::Worker(2),
        Role::Api,
        Role::Sim,
    ] {
        terminate(&topology, role).await;
    }

    let (database, state_file) = {
        let t = lock(&topology);
        (t.database_url(), t.state_file())
    };
    let store = dezky_store::Store::connect(&database).await?;
    if config.plant {
        anyhow::ensure!(
            crate::plant::duplicate_object(&state_file, "brands")?,
            "no brand to duplicate"
        );
        eprintln!("chaos: planted a duplicate brand");
    }
    let jobs = crate::observe::jobs(&queue).await?;
    let runs = crate::observe::runs(&store, jobs.keys()).await?;
    let unavailable = lock_measured(&measured).unavailable.clone();
    let observations = Observations {
        acknowledged: acks,
        jobs,
        runs,
        // The smoke-test kinds keep no run history.
        kinds_without_history: BTreeSet::from(["sleep".to_owned()]),
        authentik: crate::observe::authentik_objects(&state_file)?,
        expected_ticks: BTreeMap::from([
            (
                "seed".into(),
                ticks("seed-recovery-flow", seed_every, started_ms, stopped_ms),
            ),
            (
                "reconcile".into(),
                ticks("reconcile-tenants", reconcile_every, started_ms, stopped_ms),
            ),
        ]),
        unavailable_max_rps: unavailable.iter().filter_map(|w| w.max_rps).max(),
        probe_rps_bound: 2,
    };
    let mut report = check(&observations);
    let mut recoveries = lock_measured(&measured).recoveries_ms.clone();
    recoveries.sort_unstable();
    let figures = Figures {
        queue: queue_kind,
        seed: config.seed,
        fault_secs: config.duration.as_secs(),
        faults: events.len(),
        acknowledged: acked.len(),
        jobs: observations.jobs.len(),
        resent: workload.resent.load(std::sync::atomic::Ordering::Relaxed),
        unacknowledged: workload
            .unacknowledged
            .load(std::sync::atomic::Ordering::Relaxed),
        refused: workload
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        worker_kills_recovered: recoveries.len(),
        recovery_p50_ms: percentile(&recoveries, 50),
        recovery_p99_ms: percentile(&recoveries, 99),
        drain_ms: drained.then_some(drain_ms),
        unavailable,
    };
    if let Some(bounds) = &config.timing_bounds {
        report.timing_exceeded = timing_exceeded(&figures, bounds);
    }
    report.figures = Some(figures);
    Ok(report)
}

/// The `p`th percentile of sorted `values` (nearest rank).
fn percentile(values: &[u64], p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * p).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn a_long_run_gates_its_timing_figures() {
        let figures = |p99: u64, drain: Option<u64>| Figures {
            queue: crate::topology::QueueKind::Redis,
            seed: 1,
            fault_secs: 900,
            faults: 0,
            acknowledged: 0,
            jobs: 0,
            resent: 0,
            unacknowledged: 0,
            refused: vec![],
            worker_kills_recovered: 1,
            recovery_p50_ms: Some(p99),
            recovery_p99_ms: Some(p99),
            drain_ms: drain,
            unavailable: vec![],
        };
        let bounds = TimingBounds {
            recovery_p99: Duration::from_secs(9),
            drain: Duration::from_secs(120),
        };
        assert!(timing_exceeded(&figures(4_000, Some(5_000)), &bounds).is_empty());
        assert_eq!(
            timing_exceeded(&figures(9_500, Some(5_000)), &bounds).len(),
            1
        );
        assert_eq!(timing_exceeded(&figures(4_000, None), &bounds).len(), 1);
        assert_eq!(
            timing_exceeded(&figures(4_000, Some(130_000)), &bounds).len(),
            1
        );
    }

    #[test]
    fn ticks_at_the_edges_are_allowed_not_required() {
        let t = ticks("seed-recovery-flow", 10, 100_500, 160_000);
        assert_eq!(t.allowed.first(), Some(&90_000));
        assert_eq!(t.allowed.last(), Some(&160_000));
        assert_eq!(t.required, vec![120_000, 130_000, 140_000, 150_000]);
    }
}
