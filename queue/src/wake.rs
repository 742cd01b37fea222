//! Prompt wake-ups for idle workers. Each queue has a version counter in a `watch` channel:
//! pushes bump it, idle workers wait for a version newer than the one they last saw. A bump
//! that lands between a worker's empty fetch and its wait is not lost, because the worker compares
//! versions rather than waiting for an edge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// The per-queue counters of one process, shared by a backend and its clones.
#[derive(Debug, Clone, Default)]
pub struct WakeHub {
    queues: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl WakeHub {
    fn sender(&self, queue: &str) -> watch::Sender<u64> {
        let mut map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(queue.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Tells the queue's idle workers that there may be work.
    pub fn notify(&self, queue: &str) {
        self.sender(queue).send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Tells every queue's idle workers that there may be work (wake-ups from elsewhere may
    /// have been lost).
    pub fn notify_all(&self) {
        let senders: Vec<_> = {
            let map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            map.values().cloned().collect()
        };
        for sender in senders {
            sender.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// A signal on `queue`.
    pub fn subscribe(&self, queue: &str) -> WakeSignal {
        WakeSignal {
            rx: self.sender(queue).subscribe(),
        }
    }
}

/// What an idle worker waits on.
#[derive(Debug, Clone)]
pub struct WakeSignal {
    rx: watch::Receiver<u64>,
}

impl WakeSignal {
    /// Marks every wake-up so far as seen: call before fetching.
    pub fn mark_seen(&mut self) {
        self.rx.borrow_and_update();
    }

    /// Waits until a wake-up newer than the last [`mark_seen`](Self::mark_seen) arrives, or
    /// `fallback` passes (the poll for work this process was not told about).
    pub async fn wait(&mut self, fallback: Duration) {
        let _ = tokio::time::timeout(fallback, self.rx.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_notify_before_the_wait_is_not_lost() {
        let hub = WakeHub::default();
        let mut signal = hub.subscribe("q");
        signal.mark_seen();
        hub.notify("q");
        let started = tokio::time::Instant::now();
        signal.wait(Duration::from_secs(3600)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_notify_the_wait_ends_at_the_fallback() {
        let hub = WakeHub::default();
        let mut signal = hub.subscribe("q");
        signal.mark_seen();
        let started = tokio::time::Instant::now();
        signal.wait(Duration::from_secs(5)).await;
        assert!(started.elapsed() >= Duration::from_secs(5));
    }
}
