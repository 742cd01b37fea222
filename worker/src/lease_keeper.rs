//! The one owner of every lease a worker process holds, from fetch to the end: buffered (fetched,
//! about to start) → running (handed to a handler) → acking (the handler answered, the ack is in
//! flight) → gone (acked, released, or lost).
//!
//! One keeper per process renews every held lease in one call per beat, from its own task (apalis
//! stops polling a source while it drains at shutdown, exactly when running jobs still need their
//! leases). It tells each handler why it must stop — an operator's cancel, a lost lease, a
//! shutdown — and stops a handler itself when its lease could not be renewed before its expiry
//! minus a margin, measured on this process's monotonic clock from when the fetch or the last
//! renewal was *sent*, so it errs on the early side. It counts the slots each queue's leases take,
//! so sources fetch only for free slots. At shutdown it lets acks in flight finish before it gives
//! back what is left, so a job whose success is being written is never released.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dezky_jobs::StopReason;
use dezky_queue::{DynQueue, Lease, QueueError};

use crate::source::FetchSlot;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Fetched, not yet handed to a handler (it starts at once: sources fetch for free slots).
    Buffered,
    /// Its handler runs.
    Running,
    /// Its handler answered; the ack is in flight. Never released.
    Acking,
}

#[derive(Debug)]
struct Entry {
    lease: Lease,
    phase: Phase,
    /// The handler's stop signal (and why).
    stop: watch::Sender<Option<StopReason>>,
    /// When the lease expires at the latest, on this process's clock.
    expires: Instant,
}

/// A run's [`LeaseKeeper::fence`].
#[derive(Debug)]
struct LeaseFence {
    keeper: LeaseKeeper,
    token: i64,
}

impl dezky_authentik::WriteFence for LeaseFence {
    fn check(&self) -> Result<(), String> {
        let margin = self.keeper.inner.timing.margin;
        let leases = self.keeper.lock();
        let Some(entry) = leases.get(&self.token) else {
            return Err("its lease is gone".into());
        };
        if *entry.stop.borrow() == Some(StopReason::LeaseLost) {
            return Err("its lease was lost".into());
        }
        if Instant::now() + margin >= entry.expires {
            return Err("its lease expires before the write would be done".into());
        }
        Ok(())
    }
}

/// Renewal cadence and the stop margin.
#[derive(Debug, Clone, Copy)]
pub struct KeeperTiming {
    /// A lease's life without renewal.
    pub ttl: Duration,
    /// How often every held lease is renewed.
    pub heartbeat: Duration,
    /// A handler whose lease was not renewed is stopped this long before the lease expires.
    pub margin: Duration,
}

struct Inner {
    queue: DynQueue,
    timing: KeeperTiming,
    leases: Mutex<HashMap<i64, Entry>>,
    /// Fires whenever a lease is gone or a fetch ends (for the drain at shutdown).
    gone: Notify,
    /// Set at shutdown: sources lease nothing more.
    closing: AtomicBool,
    /// Fetches in flight: their leases are not held yet, so the release at shutdown waits.
    fetching: AtomicUsize,
    /// Each source's fetch in flight, taken over at shutdown (apalis stops polling sources).
    slots: Mutex<Vec<FetchSlot>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("timing", &self.timing)
            .field("leases", &self.leases.try_lock().map(|l| l.len()).ok())
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

/// A handle on the process's lease keeper; clones share it.
#[derive(Debug, Clone)]
pub struct LeaseKeeper {
    inner: Arc<Inner>,
}

impl LeaseKeeper {
    /// A keeper renewing through `queue` with `timing`. Start [`LeaseKeeper::run`] on a task.
    pub fn new(queue: DynQueue, timing: KeeperTiming) -> Self {
        // Zero would spin the renewal loop.
        let floor = Duration::from_millis(10);
        let timing = KeeperTiming {
            heartbeat: timing.heartbeat.max(floor),
            margin: timing.margin.max(floor),
            ..timing
        };
        Self {
            inner: Arc::new(Inner {
                queue,
                timing,
                leases: Mutex::default(),
                gone: Notify::new(),
                closing: AtomicBool::new(false),
                fetching: AtomicUsize::new(0),
                slots: Mutex::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.inner.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a source's fetch in flight, which the keeper drives to its end at shutdown.
    pub fn fetch_slot(&self) -> FetchSlot {
        let slot = FetchSlot::default();
        self.inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot.clone());
        slot
    }

    /// A fetch starts; its leases must be [`held`](Self::hold) before the guard is dropped.
    pub fn fetch_started(&self) -> FetchGuard {
        self.inner.fetching.fetch_add(1, Ordering::SeqCst);
        FetchGuard(self.clone())
    }

    /// Takes a freshly fetched lease (fetch sent at `sent_at`); answers its handler's stop signal.
    pub fn hold(&self, lease: Lease, sent_at: Instant) -> watch::Receiver<Option<StopReason>> {
        let (stop, rx) = watch::channel(None);
        let expires = sent_at + self.inner.timing.ttl;
        let mut leases = self.lock();
        leases.insert(
            lease.token,
            Entry {
                lease,
                phase: Phase::Buffered,
                stop,
                expires,
            },
        );
        crate::metrics::leases_held(leases.len());
        rx
    }

    /// The fence of `lease`'s run: it holds while the lease is held and will not expire within
    /// the margin, on this process's monotonic clock (which runs on while the process is
    /// stopped, so a worker woken after a SIGSTOP past its lease sees it at once, before its
    /// renewal fails).
    pub fn fence(&self, lease: &Lease) -> Arc<dyn dezky_authentik::WriteFence> {
        Arc::new(LeaseFence {
            keeper: self.clone(),
            token: lease.token,
        })
    }

    /// The lease's handler starts.
    pub fn start(&self, lease: &Lease) {
        if let Some(e) = self.lock().get_mut(&lease.token) {
            e.phase = Phase::Running;
        }
    }

    /// Why the lease's handler was asked to stop, if it was.
    pub fn stop_reason(&self, lease: &Lease) -> Option<StopReason> {
        self.lock().get(&lease.token).and_then(|e| *e.stop.borrow())
    }

    /// The lease's ack goes out: from now on it is never released.
    pub fn acking(&self, lease: &Lease) {
        if let Some(e) = self.lock().get_mut(&lease.token) {
            e.phase = Phase::Acking;
        }
    }

    /// The lease is gone (acked, released, or given up).
    pub fn done(&self, lease: &Lease) {
        let mut leases = self.lock();
        if leases.remove(&lease.token).is_some() {
            crate::metrics::leases_held(leases.len());
            drop(leases);
            self.inner.gone.notify_waiters();
        }
    }

    /// Slots `queue`'s leases take (buffered or running), for fetching only for free slots.
    pub fn slots_taken(&self, queue: &str) -> usize {
        self.lock()
            .values()
            .filter(|e| e.phase != Phase::Acking && e.lease.queue == queue)
            .count()
    }

    /// Asks every handler to stop for `reason` (a lost lease is never overridden).
    fn signal(entry: &Entry, reason: StopReason) {
        entry.stop.send_if_modified(|current| {
            let replace = match (*current, reason) {
                (Some(StopReason::LeaseLost), _) => false,
                (Some(StopReason::Cancel), StopReason::Shutdown) => false,
                (now, new) => now != Some(new),
            };
            if replace {
                *current = Some(reason);
            }
            replace
        });
    }

    /// Whether the process is shutting down (sources must not lease more).
    pub fn closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Stops further leasing and tells every handler the process is shutting down. A job a
    /// handler gives back now is not leased again by this process.
    pub fn shutting_down(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        // apalis polls no source from now on: finish their fetches in flight here (the fetch
        // holds its leases; the release at the end gives them back).
        let slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for slot in slots {
            let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(fetch) = taken {
                tokio::spawn(fetch);
            }
        }
        for e in self.lock().values() {
            Self::signal(e, StopReason::Shutdown);
        }
    }

    /// Gives back leases fetched but never started (attempt refunded).
    pub async fn release(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        let released = self.inner.queue.release(leases).await;
        for lease in leases {
            self.done(lease);
        }
        released
    }

    /// After a shutdown: waits (at most `within`) for every ack and fetch in flight, then gives
    /// back every lease still held — never one whose ack was in flight.
    pub async fn release_after_acks(&self, within: Duration) -> Result<usize, QueueError> {
        let deadline = Instant::now() + within;
        loop {
            let gone = self.inner.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            let fetching = self.inner.fetching.load(Ordering::SeqCst) > 0;
            if !fetching && !self.lock().values().any(|e| e.phase == Phase::Acking) {
                break;
            }
            if tokio::time::timeout_at(deadline, gone).await.is_err() {
                tracing::warn!(
                    "acks still in flight at the end of shutdown; their leases will expire"
                );
                break;
            }
        }
        let leftover: Vec<Lease> = self
            .lock()
            .values()
            .filter(|e| e.phase != Phase::Acking)
            .map(|e| e.lease.clone())
            .collect();
        self.release(&leftover).await
    }

    /// Renews every held lease once per beat and stops handlers whose lease ran out. Runs until
    /// the task is aborted.
    pub async fn run(self) {
        let heartbeat = self.inner.timing.heartbeat;
        let mut next_beat = Instant::now() + heartbeat;
        loop {
            self.stop_expiring_until(next_beat).await;
            // A renewal may be slow (a store out of reach): handlers are still stopped on time
            // meanwhile, and a renewal that outlasts a lease counts as failed.
            let beat = tokio::time::timeout(self.inner.timing.ttl, self.beat());
            tokio::pin!(beat);
            loop {
                tokio::select! {
                    biased;
                    done = &mut beat => {
                        if done.is_err() {
                            tracing::warn!("lease renewal timed out; retrying at the next beat");
                        }
                        break;
                    }
                    () = self.next_stop() => self.stop_expiring(),
                }
            }
            next_beat = Instant::now() + heartbeat;
        }
    }

    /// Stops handlers whose lease runs out, each on time, until `until`.
    async fn stop_expiring_until(&self, until: Instant) {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                () = self.next_stop() => self.stop_expiring(),
            }
        }
    }

    /// Resolves when the next held lease is due to be stopped, or after the margin at the
    /// latest (so a lease taken meanwhile is looked at in time).
    async fn next_stop(&self) {
        let margin = self.inner.timing.margin;
        let latest = Instant::now() + margin;
        let next = self
            .lock()
            .values()
            .filter(|e| *e.stop.borrow() != Some(StopReason::LeaseLost))
            .map(|e| e.expires.checked_sub(margin).unwrap_or(e.expires))
            .min();
        tokio::time::sleep_until(next.map_or(latest, |at| at.min(latest))).await;
    }

    /// One renewal of every held lease, in one call.
    async fn beat(&self) {
        let leases: Vec<Lease> = self.lock().values().map(|e| e.lease.clone()).collect();
        if leases.is_empty() {
            return;
        }
        let sent_at = Instant::now();
        match self.inner.queue.renew(&leases, self.inner.timing.ttl).await {
            Ok(renewed) => {
                let mut held = self.lock();
                let lost: std::collections::HashSet<i64> =
                    renewed.lost.iter().map(|l| l.token).collect();
                for lease in &leases {
                    if let Some(e) = held.get_mut(&lease.token)
                        && !lost.contains(&lease.token)
                    {
                        e.expires = sent_at + self.inner.timing.ttl;
                    }
                }
                for lease in &renewed.cancel_requested {
                    if let Some(e) = held.get(&lease.token) {
                        tracing::info!(job = %lease.id, "cancellation requested; telling the handler");
                        Self::signal(e, StopReason::Cancel);
                    }
                }
                for lease in &renewed.lost {
                    if let Some(e) = held.get(&lease.token) {
                        tracing::warn!(job = %lease.id, "lease lost (expired and taken over); stopping the handler");
                        Self::signal(e, StopReason::LeaseLost);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, held = leases.len(), "lease renewal failed; retrying at the next beat")
            }
        }
    }

    /// Stops the handlers whose lease expires within the margin: they could not be renewed.
    fn stop_expiring(&self) {
        let now = Instant::now();
        for e in self.lock().values() {
            if e.expires
                .checked_sub(self.inner.timing.margin)
                .unwrap_or(e.expires)
                <= now
                && *e.stop.borrow() != Some(StopReason::LeaseLost)
            {
                tracing::warn!(job = %e.lease.id, "lease not renewed in time; stopping the handler before it expires");
                Self::signal(e, StopReason::LeaseLost);
            }
        }
    }
}

/// A fetch in flight (see [`LeaseKeeper::fetch_started`]).
#[derive(Debug)]
pub struct FetchGuard(LeaseKeeper);

impl Drop for FetchGuard {
    fn drop(&mut self) {
        self.0.inner.fetching.fetch_sub(1, Ordering::SeqCst);
        self.0.inner.gone.notify_waiters();
    }
}
