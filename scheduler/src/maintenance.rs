//! Periodic queue maintenance: lease rescue and retention, each bounded per pass. Every replica
//! may run it: both passes are idempotent.

use std::future::Future;
use std::time::Duration;

use dezky_queue::{DynQueue, Retention};

/// How often and how much maintenance does.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Time between passes.
    pub every: Duration,
    /// Most rows one pass touches per duty.
    pub batch: usize,
    /// How long finished jobs are kept.
    pub retention: Retention,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(5),
            batch: 1000,
            retention: Retention::default(),
        }
    }
}

/// One pass: rescue expired leases, then prune finished jobs; answers (rescued, pruned).
pub async fn maintenance_pass(queue: &DynQueue, config: &MaintenanceConfig) -> (usize, usize) {
    let rescued = queue
        .rescue_expired(config.batch)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "lease rescue failed");
            0
        });
    let pruned = queue
        .prune(config.retention, config.batch)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "retention pass failed");
            0
        });
    if rescued > 0 || pruned > 0 {
        tracing::info!(rescued, pruned, "queue maintenance");
    }
    (rescued, pruned)
}

/// Runs maintenance passes until `shutdown` resolves.
pub async fn run_maintenance(
    queue: DynQueue,
    config: MaintenanceConfig,
    shutdown: impl Future<Output = ()>,
) {
    let passes = async {
        let mut tick = tokio::time::interval(config.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (_, pruned) = maintenance_pass(&queue, &config).await;
            // A full prune batch means more is due: go again without waiting a whole period.
            if pruned == config.batch {
                tick.reset_immediately();
            }
        }
    };
    tokio::select! {
        () = passes => {}
        () = shutdown => {}
    }
}
