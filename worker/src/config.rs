//! Worker tuning: leases, heartbeats, polling, batching, the shutdown grace and the gate's
//! horizon.

use std::time::Duration;

/// How workers lease, renew, poll and stop.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// A lease's life without renewal: the bound on how long a crashed worker's jobs wait.
    pub lease_ttl: Duration,
    /// How often held leases are renewed, all in one call per process (well under `lease_ttl`).
    /// A handler whose lease was not renewed is stopped `lease_ttl / 10` before it expires.
    pub heartbeat: Duration,
    /// The fallback poll of an idle worker, for work pushed by other processes and for
    /// scheduled jobs coming due.
    pub poll_interval: Duration,
    /// How long to wait after a failed fetch before trying again.
    pub error_backoff: Duration,
    /// Most jobs leased per fetch; a fetch never leases more than the worker's free slots.
    pub batch: usize,
    /// How long running jobs may go on after a shutdown signal before they are dropped and their
    /// leases released.
    pub shutdown_grace: Duration,
    /// Only these kinds get workers (`None`: every kind in the registry).
    pub kinds: Option<Vec<String>>,
    /// Overrides every kind's concurrency when set.
    pub concurrency: Option<usize>,
    /// The most a job may wait, added up, on a closed dependency gate before it goes dead.
    pub gate_horizon: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(3),
            poll_interval: Duration::from_millis(250),
            error_backoff: Duration::from_secs(1),
            batch: 32,
            shutdown_grace: Duration::from_secs(30),
            kinds: None,
            concurrency: None,
            gate_horizon: Duration::from_secs(86_400),
        }
    }
}
