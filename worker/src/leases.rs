//! The leases a worker holds, and the heartbeat that renews them. The heartbeat runs on its own
//! task: apalis stops polling a backend while it drains at shutdown, which is exactly when
//! running jobs still need their leases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dezky_queue::{DynQueue, Lease};
use tokio::sync::watch;

/// Held leases by token, each with the switch that tells its handler to stop.
type LeaseMap = HashMap<i64, (Lease, watch::Sender<bool>)>;

/// Leases held by one worker, each with the switch that tells its handler to stop.
#[derive(Debug, Clone, Default)]
pub struct HeldLeases {
    inner: Arc<Mutex<LeaseMap>>,
}

impl HeldLeases {
    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseMap> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new lease; answers the receiver its handler watches for cancellation.
    pub fn hold(&self, lease: Lease) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        self.lock().insert(lease.token, (lease, tx));
        rx
    }

    /// Forgets a lease (completed or released).
    pub fn drop_lease(&self, lease: &Lease) {
        self.lock().remove(&lease.token);
    }

    /// Every lease held now.
    pub fn leases(&self) -> Vec<Lease> {
        self.lock().values().map(|(l, _)| l.clone()).collect()
    }

    /// Tells the handler of `lease` to stop; forgets the lease too when it is `lost`.
    fn signal_stop(&self, lease: &Lease, lost: bool) {
        let mut map = self.lock();
        if let Some((_, tx)) = map.get(&lease.token) {
            tx.send_replace(true);
        }
        if lost {
            map.remove(&lease.token);
        }
    }

    /// Forgets every lease, answering them (for release after a forced shutdown).
    pub fn take_all(&self) -> Vec<Lease> {
        self.lock().drain().map(|(_, (l, _))| l).collect()
    }
}

/// Renews `held` every `every` for `ttl`, relaying cancellation requests and lost leases to
/// the handlers. Runs until aborted.
pub async fn heartbeat(queue: DynQueue, held: HeldLeases, every: Duration, ttl: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let leases = held.leases();
        if leases.is_empty() {
            continue;
        }
        match queue.renew(&leases, ttl).await {
            Ok(renewed) => {
                for lease in &renewed.cancel_requested {
                    tracing::info!(job = %lease.id, "cancellation requested; telling the handler");
                    held.signal_stop(lease, false);
                }
                for lease in &renewed.lost {
                    tracing::warn!(job = %lease.id, "lease lost (expired and taken over); telling the handler to stop");
                    held.signal_stop(lease, true);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, held = leases.len(), "lease renewal failed; retrying at the next beat")
            }
        }
    }
}
