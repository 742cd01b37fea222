//! One apalis worker per job kind over the queue, under one monitor, and one [`LeaseKeeper`] for
//! the process. Graceful shutdown: stop fetching, tell running handlers why (they may stop early
//! and be given back), let them finish within the grace, let acks in flight finish, then give back
//! (attempt refunded) every lease still held.

use std::future::Future;
use std::sync::Arc;

use apalis::prelude::{Monitor, WorkerBuilder, WorkerBuilderExt};
use apalis_core::error::BoxDynError;
use apalis_core::worker::event::Event;
use dezky_jobs::registry::ErasedKind;
use dezky_jobs::{JobContext, Registry};
use dezky_queue::DynQueue;

use crate::config::WorkerConfig;
use crate::exclusion::{LockTiming, run_holding};
use crate::lease_keeper::{KeeperTiming, LeaseKeeper};
use crate::run_log::RunLog;
use crate::source::{JobTask, QueueSource};

/// Why the worker pool stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A kind named in the configuration is not in the registry.
    #[error("unknown job kind `{0}` in the worker configuration")]
    UnknownKind(String),
    /// apalis's monitor failed.
    #[error("worker monitor failed: {0}")]
    Monitor(String),
    /// Giving leases back at shutdown failed; they will expire instead.
    #[error("releasing leases at shutdown failed: {0}")]
    Release(#[from] dezky_queue::QueueError),
}

/// Called after each attempt that succeeded and was recorded (benchmarks count these).
pub type SuccessObserver = Arc<dyn Fn() + Send + Sync>;

/// What a pool tells others about its attempts.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Called after each recorded success.
    pub on_success: Option<SuccessObserver>,
    /// Told of each attempt's start and end (the run history).
    pub run_log: Option<Arc<dyn RunLog>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("on_success", &self.on_success.is_some())
            .field("run_log", &self.run_log)
            .finish()
    }
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
    let kinds = selected_kinds(&registry, &config)?;
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
        tracing::info!(kind = kind.name(), concurrency, "starting worker");
        monitor = monitor.register(move |_restarts| {
            let (kind, locks) = (kind.clone(), queue.clone());
            WorkerBuilder::new(name.as_str())
                .backend(QueueSource::new(
                    queue.clone(),
                    kind.name(),
                    concurrency,
                    config.clone(),
                    keeper.clone(),
                    run_log.clone(),
                ))
                .catch_panic()
                // Concurrency outside the timeout, so time waiting for a slot is not run time.
                .concurrency(concurrency)
                .timeout(settings.timeout)
                .build(move |task: JobTask| run_attempt(kind.clone(), locks.clone(), timing, task))
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
    ran?;
    let released = released?;
    if released > 0 {
        tracing::info!(released, "released leases of attempts stopped by shutdown");
    }
    Ok(())
}

fn selected_kinds(
    registry: &Registry,
    config: &WorkerConfig,
) -> Result<Vec<Arc<dyn ErasedKind>>, WorkerError> {
    match &config.kinds {
        None => Ok(registry.kinds().cloned().collect()),
        Some(names) => names
            .iter()
            .map(|n| {
                registry
                    .get(n)
                    .cloned()
                    .ok_or_else(|| WorkerError::UnknownKind(n.clone()))
            })
            .collect(),
    }
}

async fn run_attempt(
    kind: Arc<dyn ErasedKind>,
    queue: DynQueue,
    timing: LockTiming,
    task: JobTask,
) -> Result<serde_json::Value, BoxDynError> {
    let job = task.job;
    let mut attempt = kind.prepare(job.args)?;
    let ctx = JobContext {
        id: job.lease.id.0.clone(),
        kind: job.kind,
        attempt: job.lease.attempt,
        max_attempts: job.max_attempts,
        tenant: job.tenant,
        stop: task.stop,
    };
    let keys = std::mem::take(&mut attempt.keys);
    run_holding(&queue, keys, timing, attempt.run(ctx))
        .await
        .map_err(Into::into)
}
