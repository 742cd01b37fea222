//! One apalis worker per job kind over the queue, under one monitor, and one [`LeaseKeeper`] for
//! the process. Kinds get the application's services; a kind that needs a dependency the process
//! lacks is not run (said at start), and one whose dependency has a gate is fetched only while
//! the gate is open. A successful attempt's secret part and store writes are written before the
//! job is recorded succeeded — in the same transaction when the queue is in the store's database,
//! with its staged children — and its children are listed in its result. Graceful shutdown: stop fetching, tell running handlers why (they may stop early
//! and be given back), let them finish within the grace, let acks in flight finish, then give back
//! (attempt refunded) every lease still held.

use std::future::Future;
use std::sync::Arc;

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_core::error::BoxDynError;
use apalis_core::worker::event::Event;
use std::sync::OnceLock;

use dezky_jobs::children::{Children, new_children};
use dezky_jobs::registry::ErasedKind;
use dezky_jobs::{Dependency, JobContext, JobError, Output, Registry, Services};
use dezky_queue::{Clock, DynQueue, JobState, Outcome, QueueError, SystemClock};

use crate::config::WorkerConfig;
use crate::exclusion::{LockTiming, run_holding};
use crate::gate::Gate;
use crate::lease_keeper::{KeeperTiming, LeaseKeeper};
use crate::run_log::RunLog;
use crate::source::{JobTask, QueueSource};

/// Why the worker pool stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A kind named in the configuration is not in the registry.
    #[error("unknown job kind `{0}` in the worker configuration")]
    UnknownKind(String),
    /// A kind named in the configuration needs a dependency this process lacks.
    #[error("job kind `{kind}` needs {dependency}, which is not configured (set {setting})")]
    MissingDependency {
        /// The kind.
        kind: String,
        /// What it needs.
        dependency: &'static str,
        /// The setting that provides it.
        setting: &'static str,
    },
    /// apalis's monitor failed.
    #[error("worker monitor failed: {0}")]
    Monitor(String),
    /// Giving leases back at shutdown failed; they will expire instead.
    #[error("releasing leases at shutdown failed: {0}")]
    Release(#[from] dezky_queue::QueueError),
}

/// Called after each attempt that succeeded and was recorded (benchmarks count these).
pub type SuccessObserver = Arc<dyn Fn() + Send + Sync>;

/// What a pool is given besides the queue, the kinds and its tuning: the services kinds use,
/// the gates of their dependencies, and who is told of attempts.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Called after each recorded success.
    pub on_success: Option<SuccessObserver>,
    /// Told of each attempt's start and end (the run history).
    pub run_log: Option<Arc<dyn RunLog>>,
    /// What kinds get from the application.
    pub services: Services,
    /// One gate per dependency that has one; the pool runs them.
    pub gates: Vec<Gate>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("on_success", &self.on_success.is_some())
            .field("run_log", &self.run_log)
            .field("services", &self.services)
            .field("gates", &self.gates)
            .finish()
    }
}

/// What every attempt of one kind runs with.
#[derive(Clone)]
struct AttemptEnv {
    kind: Arc<dyn ErasedKind>,
    queue: DynQueue,
    timing: LockTiming,
    services: Services,
    gate: Option<Gate>,
    keeper: LeaseKeeper,
}

/// Runs workers for the configured kinds until `shutdown` resolves, then drains and releases.
pub async fn run_workers(
    queue: DynQueue,
    registry: Registry,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    run_observed_workers(queue, registry, config, Hooks::default(), shutdown).await
}

/// [`run_workers`], telling `hooks` of attempts.
pub async fn run_observed_workers(
    queue: DynQueue,
    registry: Registry,
    config: WorkerConfig,
    hooks: Hooks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let kinds = selected_kinds(&registry, &config, &hooks.services)?;
    for gate in &hooks.gates {
        gate.sync().await;
    }
    let gate_tasks: Vec<_> = hooks
        .gates
        .iter()
        .map(|gate| tokio::spawn(gate.clone().run()))
        .collect();
    let keeper = LeaseKeeper::new(
        queue.clone(),
        KeeperTiming {
            ttl: config.lease_ttl,
            heartbeat: config.heartbeat,
            margin: config.lease_ttl / 10,
        },
    );
    let renewals = tokio::spawn(keeper.clone().run());
    // Unique per process, so a restarted worker never collides with its predecessor's leases.
    let instance = format!("{}-{}", std::process::id(), ulid::Ulid::new());
    let mut monitor = Monitor::new().shutdown_timeout(config.shutdown_grace);
    if let Some(observer) = hooks.on_success {
        monitor = monitor.on_event(move |_worker, event| {
            if matches!(event, Event::Success(_)) {
                observer();
            }
        });
    }
    for kind in kinds {
        let settings = kind.settings();
        let concurrency = config.concurrency.unwrap_or(settings.concurrency).max(1);
        let name = format!("{}@{instance}", kind.name());
        let (queue, keeper, config) = (queue.clone(), keeper.clone(), config.clone());
        let run_log = hooks.run_log.clone().filter(|_| settings.history);
        let timing = LockTiming {
            ttl: config.lease_ttl,
            heartbeat: config.heartbeat,
        };
        let gate = hooks
            .gates
            .iter()
            .find(|g| settings.needs.contains(&g.dependency()))
            .cloned();
        let env = AttemptEnv {
            kind: kind.clone(),
            queue: queue.clone(),
            timing,
            services: hooks.services.clone(),
            gate: gate.clone(),
            keeper: keeper.clone(),
        };
        tracing::info!(kind = kind.name(), concurrency, "starting worker");
        monitor = monitor.register(move |_restarts| {
            let env = env.clone();
            WorkerBuilder::new(name.as_str())
                .backend(QueueSource::new(
                    queue.clone(),
                    kind.name(),
                    concurrency,
                    config.clone(),
                    keeper.clone(),
                    run_log.clone(),
                    gate.clone(),
                ))
                .catch_panic()
                // Concurrency outside the timeout, so time waiting for a slot is not run time.
                .concurrency(concurrency)
                .timeout(settings.timeout)
                .build(move |task: JobTask| run_attempt(env.clone(), task))
        });
    }
    let told = keeper.clone();
    let ran = monitor
        .run_with_signal(async move {
            shutdown.await;
            told.shutting_down();
            Ok(())
        })
        .await
        .map_err(|e| WorkerError::Monitor(e.to_string()));
    // Attempts cut off when the grace ran out: once every ack in flight is written (their leases
    // stay renewed meanwhile), give the rest back without spending the attempt.
    let released = keeper.release_after_acks(config.lease_ttl).await;
    renewals.abort();
    for task in gate_tasks {
        task.abort();
    }
    ran?;
    let released = released?;
    if released > 0 {
        tracing::info!(released, "released leases of attempts stopped by shutdown");
    }
    Ok(())
}

/// The kinds this process runs: the configured ones (each must exist and have what it needs),
/// or every kind whose dependencies are configured, saying which are left out and why.
fn selected_kinds(
    registry: &Registry,
    config: &WorkerConfig,
    services: &Services,
) -> Result<Vec<Arc<dyn ErasedKind>>, WorkerError> {
    let missing = |kind: &Arc<dyn ErasedKind>| -> Option<Dependency> {
        kind.settings()
            .needs
            .iter()
            .copied()
            .find(|d| !services.has(*d))
    };
    match &config.kinds {
        None => {
            let (run, skipped): (Vec<_>, Vec<_>) = registry
                .kinds()
                .cloned()
                .partition(|k| missing(k).is_none());
            for kind in &skipped {
                if let Some(dependency) = missing(kind) {
                    tracing::warn!(
                        kind = kind.name(),
                        dependency = dependency.name(),
                        "not running this kind: {} is not set",
                        dependency.setting()
                    );
                }
            }
            Ok(run)
        }
        Some(names) => names
            .iter()
            .map(|n| {
                let kind = registry
                    .get(n)
                    .cloned()
                    .ok_or_else(|| WorkerError::UnknownKind(n.clone()))?;
                match missing(&kind) {
                    None => Ok(kind),
                    Some(d) => Err(WorkerError::MissingDependency {
                        kind: n.clone(),
                        dependency: d.name(),
                        setting: d.setting(),
                    }),
                }
            })
            .collect(),
    }
}

async fn run_attempt(env: AttemptEnv, task: JobTask) -> Result<serde_json::Value, BoxDynError> {
    let job = task.job;
    let lease = job.lease.clone();
    let id = lease.id.0.clone();
    if let Some(gate) = env.gate.as_ref().filter(|g| !g.is_open()) {
        // Leased just before the gate closed: wait with the others, attempt refunded.
        return Err(JobError::Unavailable {
            dependency: gate.dependency(),
            message: "the gate is closed".into(),
        }
        .into());
    }
    let mut attempt = env.kind.prepare(job.args)?;
    let services = env
        .services
        .for_lease(&lease, Some(env.keeper.fence(&lease)));
    let ctx = JobContext {
        id: id.clone(),
        kind: job.kind,
        attempt: lease.attempt,
        max_attempts: job.max_attempts,
        tenant: job.tenant,
        stop: task.stop,
        services: services.clone(),
        children: new_children(),
    };
    let children = ctx.children.clone();
    let keys = std::mem::take(&mut attempt.keys);
    let ran = run_holding(&env.queue, keys, env.timing, attempt.run(ctx)).await;
    let output = match ran {
        Ok(output) => output,
        Err(e) => {
            if let (JobError::Unavailable { .. }, Some(gate)) = (&e, &env.gate) {
                gate.report_unreachable();
            }
            return Err(e.into());
        }
    };
    let success = Success {
        services: &services,
        lease: &lease,
        children: &children,
    };
    let staged = children.take_staged();
    let writes = output.writes_store();
    // The writing paths are boxed: their futures are large (store statements, a transaction),
    // and every attempt's future would carry them, the commonest (nothing to write) included.
    // A success with nothing to write goes to the ack layer, whose batches commit many at once.
    match (&services.shared_db, &services.store) {
        (Some(db), Some(store)) if writes || !staged.is_empty() => {
            Box::pin(success.commit(store, db, output, staged, &task.committed))
                .await
                .map_err(Into::into)
        }
        _ if !writes => Ok(with_children(output.result, children.ids())),
        _ => Box::pin(success.write(output)).await.map_err(Into::into),
    }
}

/// A successful attempt, about to be recorded.
struct Success<'a> {
    services: &'a Services,
    lease: &'a dezky_queue::Lease,
    children: &'a Children,
}

impl Success<'_> {
    /// The queue elsewhere (Redis), and something to write: the secret part sealed and the store
    /// writes made, one by one (the job is not recorded succeeded without them); the children
    /// were pushed as they were enqueued. The ack layer records the success next.
    async fn write(&self, output: Output) -> Result<serde_json::Value, JobError> {
        if let Some(secret) = &output.secret {
            self.vault()?
                .seal(self.lease.id.as_str(), secret)
                .await
                .map_err(|e| JobError::retry(format!("cannot store the secret result: {e}")))?;
        }
        if !output.writes.is_empty() {
            self.services.may_write()?;
            let store = self.services.store()?;
            for write in &output.writes {
                write
                    .apply(store, SystemClock.now_ms())
                    .await
                    .map_err(|e| JobError::retry(format!("cannot write the store: {e}")))?;
            }
        }
        dezky_queue::crash::point("complete:stored");
        Ok(with_children(output.result, self.children.ids()))
    }

    /// The queue in the store's database: the secret part, the store writes, the `staged`
    /// children and the success itself in one transaction, fenced by the lease (a run that lost
    /// it writes nothing). Marks `committed`, so the ack layer records nothing more.
    async fn commit(
        &self,
        store: &dezky_store::Store,
        db: &dezky_queue::InDatabase,
        output: Output,
        staged: Vec<dezky_queue::NewJob>,
        committed: &OnceLock<JobState>,
    ) -> Result<serde_json::Value, JobError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            JobError::retry(format!("cannot record the success ({what}): {e}"))
        };
        let mut tx = store
            .begin_with(db)
            .await
            .map_err(|e| failed("begin", &e))?;
        if let Some(secret) = &output.secret {
            self.vault()?
                .seal_in(&mut tx, self.lease.id.as_str(), secret)
                .await
                .map_err(|e| failed("secret", &e))?;
        }
        let now = SystemClock.now_ms();
        for write in &output.writes {
            write
                .apply_in(&mut tx, now)
                .await
                .map_err(|e| failed("store", &e))?;
        }
        for child in staged {
            let pushed = tx
                .push(std::slice::from_ref(&child))
                .await
                .map_err(|e| failed("child", &e))?;
            for p in pushed {
                self.children.note(&p.id.0);
            }
        }
        let writes = output.writes_store();
        let result = with_children(output.result, self.children.ids());
        if writes {
            dezky_queue::crash::point("complete:stored");
        }
        let state = tx
            .complete(self.lease, &Outcome::Succeeded(result.clone()))
            .await
            .map_err(|e| match e {
                QueueError::LeaseLost(_) => JobError::Retry {
                    class: "lease_expired",
                    message: "not recorded: this run no longer holds its job".into(),
                    retry_after: None,
                },
                e => failed("complete", &e),
            })?;
        tx.commit().await.map_err(|e| failed("commit", &e))?;
        let _ = committed.set(state);
        Ok(result)
    }

    fn vault(&self) -> Result<&dezky_store::SecretVault, JobError> {
        self.services
            .secrets
            .as_ref()
            .ok_or_else(|| JobError::Abort {
                class: "misconfigured",
                message: "this kind answers a secret, but no secret store is configured".into(),
            })
    }
}

/// `result` with the children's ids in it (`children`), when there are any.
fn with_children(mut result: serde_json::Value, children: Vec<String>) -> serde_json::Value {
    if children.is_empty() {
        return result;
    }
    let ids = serde_json::Value::from(children);
    match &mut result {
        serde_json::Value::Object(map) => {
            map.insert("children".into(), ids);
        }
        serde_json::Value::Null => result = serde_json::json!({ "children": ids }),
        other => result = serde_json::json!({ "value": std::mem::take(other), "children": ids }),
    }
    result
}
