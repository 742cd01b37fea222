//! The dependency gate: when a dependency (Authentik) is found unreachable, workers stop
//! fetching the kinds that need it, running ones wait (blocked: no attempt spent), and one
//! prober in the whole deployment asks the dependency, at most once per probe interval, whether
//! it is back.
//!
//! The gate's state lives in the queue's store, as a fenced lock (`gate:<dependency>`): the gate
//! is closed while its prober holds that lock. A process that finds the dependency unreachable
//! closes its own view at once (so its other calls stop before they are sent) and takes the lock
//! if it is free, becoming the prober; the other processes see the lock held and close too. The
//! prober renews the lock on every probe and, when a probe succeeds, leaves a short-lived
//! `opened` mark and releases it; everyone sees it free and marked, and opens. A prober that dies
//! lets the lock expire without the mark: the first process to see that takes the lock and
//! probes in its place, so the gate stays closed until a probe succeeds (opening on a dead
//! prober would send every waiting job of every process at a dependency still down).
//!
//! The horizon: a job's waits on the gate are recorded in its errors (class `gate_closed`); the
//! prober, while the gate stays closed, discards the waiting jobs whose waits began longer ago
//! than the horizon, with a clear reason.

use std::sync::Arc;
use std::time::Duration;

use dezky_jobs::Dependency;
use dezky_queue::clock::UnixMillis;
use dezky_queue::{Clock, DynQueue, HeldLock, JobFilter, JobState, RecordedError};
use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// The class of the error a wait on the gate records.
pub const GATE_CLOSED: &str = "gate_closed";

/// Asks the dependency, once, whether it answers. Bypasses the gate.
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How a gate behaves.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// The most a job may wait on the gate, added up, before it is discarded.
    pub horizon: Duration,
    /// Time between two probes: the most requests a closed gate sends the dependency is one per
    /// interval, however many processes run.
    pub probe_interval: Duration,
    /// How often a process reads the gate's deployment-wide state.
    pub watch_interval: Duration,
    /// The time the horizon is measured in (the queue's, so a manual clock moves both).
    pub clock: Arc<dyn Clock>,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            horizon: Duration::from_secs(86_400),
            probe_interval: Duration::from_secs(1),
            watch_interval: Duration::from_millis(500),
            clock: Arc::new(dezky_queue::SystemClock),
        }
    }
}

/// One dependency's gate, as one process sees it. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    dependency: Dependency,
    queue: DynQueue,
    probe: Probe,
    config: GateConfig,
    /// The kinds that need the dependency (whose waiting jobs the horizon sweeps).
    kinds: Vec<String>,
    /// This process's view: open or not.
    open: watch::Sender<bool>,
    /// A call found the dependency unreachable.
    reported: Notify,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("dependency", &self.inner.dependency)
            .field("open", &self.is_open())
            .finish()
    }
}

/// When a job's current wait on the gate began: the first of the `gate_closed` entries that end
/// its errors (a wait is over once the job ends an attempt otherwise).
pub fn waiting_since(errors: &[RecordedError]) -> Option<UnixMillis> {
    errors
        .iter()
        .rev()
        .take_while(|e| e.class == GATE_CLOSED)
        .last()
        .map(|e| e.at)
}

/// How long a job blocked by the gate waits before it is looked at again: short and jittered
/// (a closed gate keeps it from being fetched anyway), so it runs soon after the gate opens.
pub fn blocked_delay() -> Duration {
    use rand::Rng;
    Duration::from_millis(rand::rng().random_range(1_000..=3_000))
}

impl Gate {
    /// An open gate for `dependency`, probing it with `probe`, over the kinds that need it.
    pub fn new(
        dependency: Dependency,
        queue: DynQueue,
        probe: Probe,
        kinds: Vec<String>,
        config: GateConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                dependency,
                queue,
                probe,
                config,
                kinds,
                open: watch::channel(true).0,
                reported: Notify::new(),
            }),
        }
    }

    /// Its dependency.
    pub fn dependency(&self) -> Dependency {
        self.inner.dependency
    }

    /// Whether this process may call the dependency now.
    pub fn is_open(&self) -> bool {
        *self.inner.open.borrow()
    }

    /// Resolves once the gate is open.
    pub async fn opened(&self) {
        let mut rx = self.inner.open.subscribe();
        // The sender lives as long as `self`.
        let _ = rx.wait_for(|open| *open).await;
    }

    /// A call found the dependency unreachable: close this process's view at once; the gate's
    /// task takes it deployment-wide.
    pub fn report_unreachable(&self) {
        crate::metrics::gate_open(self.inner.dependency.name(), false);
        if self.inner.open.send_replace(false) {
            tracing::warn!(
                dependency = self.inner.dependency.name(),
                "dependency unreachable: gate closed; its jobs wait without spending attempts"
            );
        }
        self.inner.reported.notify_one();
    }

    fn set_open(&self, open: bool) {
        crate::metrics::gate_open(self.inner.dependency.name(), open);
        let was = self.inner.open.send_replace(open);
        if was != open {
            let dependency = self.inner.dependency.name();
            if open {
                tracing::info!(dependency, "dependency back: gate open");
            } else {
                tracing::warn!(dependency, "gate closed by another process");
            }
        }
    }

    /// Takes the deployment's state as this process's view: a process that starts while the
    /// gate is closed must not send its first jobs at the dependency before its gate task
    /// first looks.
    pub async fn sync(&self) {
        let key = self.inner.dependency.gate_key();
        if let Ok(true) = self.inner.queue.lock_held(&key).await {
            self.set_open(false);
        }
    }

    /// Keeps this process's view in step with the deployment's, probing when it is this
    /// process's turn, until the task is dropped.
    pub async fn run(self) {
        let key = self.inner.dependency.gate_key();
        let watch = self.inner.config.watch_interval;
        loop {
            if self.is_open() {
                tokio::select! {
                    () = self.inner.reported.notified() => {
                        // A report left over from before the gate last opened: stale.
                        if self.is_open() {
                            continue;
                        }
                    }
                    () = tokio::time::sleep(watch) => {
                        if matches!(self.inner.queue.lock_held(&key).await, Ok(true)) {
                            self.set_open(false);
                        }
                        continue;
                    }
                }
            }
            // Closed here: probe if no one else does, else wait for whoever does.
            match self.inner.queue.lock(&key, self.lock_ttl()).await {
                Ok(Some(lock)) => self.probe_until_back(lock).await,
                Ok(None) => self.wait_for_prober(&key).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the gate's state; trying again");
                    tokio::time::sleep(watch).await;
                }
            }
        }
    }

    /// The prober's lock outlives a probe that hangs (each is cut off at two intervals) by one
    /// interval more, so two processes never probe at once.
    fn lock_ttl(&self) -> Duration {
        self.inner.config.probe_interval * 3 + self.inner.config.watch_interval
    }

    /// Not the prober: wait until the lock is free. If the prober saw the dependency back (it
    /// leaves the `opened` mark), open; if it died (its lock expired without the mark), the
    /// dependency may well still be down: take over probing rather than open — opening would
    /// send every waiting job of every process at it at once.
    async fn wait_for_prober(&self, key: &str) {
        loop {
            tokio::time::sleep(self.inner.config.watch_interval).await;
            if let Ok(false) = self.inner.queue.lock_held(key).await {
                if let Ok(true) = self.inner.queue.lock_held(&opened_key(key)).await {
                    self.set_open(true);
                    return;
                }
                match self.inner.queue.lock(key, self.lock_ttl()).await {
                    Ok(Some(lock)) => {
                        tracing::info!(
                            dependency = self.inner.dependency.name(),
                            "the gate's prober is gone; probing in its place"
                        );
                        return self.probe_until_back(lock).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the gate's state; trying again")
                    }
                }
            }
        }
    }

    /// The prober: one probe per interval until one succeeds (release the lock, open) or the
    /// lock is lost (another process probes now).
    async fn probe_until_back(&self, lock: HeldLock) {
        let config = &self.inner.config;
        let dependency = self.inner.dependency.name();
        tracing::info!(dependency, "probing the dependency for the deployment");
        self.set_open(false);
        let mut last_sweep: Option<UnixMillis> = None;
        let mut next = Instant::now() + config.probe_interval;
        loop {
            tokio::time::sleep_until(next).await;
            next += config.probe_interval;
            let probe = tokio::time::timeout(config.probe_interval * 2, (self.inner.probe)());
            match probe.await {
                Ok(Ok(())) => {
                    // The mark tells the waiting processes the dependency is back, not that
                    // the prober died; it outlives their next look at the lock.
                    let mark = opened_key(&lock.key);
                    if let Err(e) = self.inner.queue.lock(&mark, self.lock_ttl()).await {
                        tracing::warn!(error = %e, "could not mark the gate open; the others probe once more");
                    }
                    if let Err(e) = self.inner.queue.unlock(&lock).await {
                        tracing::warn!(error = %e, "could not release the gate's lock; it expires instead");
                    }
                    self.set_open(true);
                    return;
                }
                Ok(Err(e)) => tracing::debug!(dependency, error = %e, "probe failed"),
                Err(_) => tracing::debug!(dependency, "probe timed out"),
            }
            match self.inner.queue.renew_lock(&lock, self.lock_ttl()).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "could not renew the gate's lock"),
            }
            let now = config.clock.now_ms();
            let sweep_every =
                (config.horizon / 100).clamp(Duration::from_secs(1), Duration::from_secs(60));
            if last_sweep.is_none_or(|at| now - at >= sweep_every.as_millis() as i64) {
                last_sweep = Some(now);
                self.sweep(now).await;
            }
        }
    }

    /// Discards the jobs waiting on this gate whose wait began longer ago than the horizon.
    async fn sweep(&self, now: UnixMillis) {
        let horizon = self.inner.config.horizon;
        let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
        let reason = format!(
            "{GATE_CLOSED}: {} stayed unreachable for longer than the gate's horizon \
             (DEZKY_GATE_HORIZON_SECS = {} s) while this job waited; it will not be tried again",
            self.inner.dependency.name(),
            horizon.as_secs()
        );
        for kind in &self.inner.kinds {
            for state in [JobState::Scheduled, JobState::Available] {
                let mut cursor = None;
                loop {
                    let filter = JobFilter {
                        kind: Some(kind.clone()),
                        state: Some(state),
                        limit: 500,
                        cursor: cursor.take(),
                        ..JobFilter::default()
                    };
                    let page = match self.inner.queue.list(filter).await {
                        Ok(page) => page,
                        Err(e) => {
                            tracing::warn!(error = %e, "gate horizon: cannot list waiting jobs");
                            return;
                        }
                    };
                    for job in &page.jobs {
                        if waiting_since(&job.errors).is_some_and(|since| now - since > horizon_ms)
                        {
                            match self.inner.queue.discard(&job.id, &reason).await {
                                Ok(_) => {
                                    tracing::warn!(job = %job.id, "gate horizon passed: job discarded")
                                }
                                Err(e) => {
                                    tracing::debug!(job = %job.id, error = %e, "gate horizon: not discarded")
                                }
                            }
                        }
                    }
                    match page.next_cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
            }
        }
    }
}

/// The mark a prober leaves when the dependency answered again (see [`Gate::wait_for_prober`]).
fn opened_key(gate_key: &str) -> String {
    format!("{gate_key}:opened")
}

/// Authentik's gate over `registry`'s kinds that need it, probing with `client`, and the client
/// the kinds should use: the same, asking the gate before every request.
pub fn authentik_gate(
    queue: DynQueue,
    client: &dezky_authentik::AuthentikClient,
    registry: &dezky_jobs::Registry,
    config: GateConfig,
) -> (Gate, dezky_authentik::AuthentikClient) {
    let dependency = Dependency::Authentik;
    let kinds = registry
        .kinds()
        .filter(|k| k.settings().needs.contains(&dependency))
        .map(|k| k.name().to_owned())
        .collect();
    let prober = client.clone();
    let probe: Probe = Arc::new(move || {
        let prober = prober.clone();
        Box::pin(async move { prober.probe().await.map_err(|e| e.to_string()) })
    });
    let gate = Gate::new(dependency, queue, probe, kinds, config);
    let gated = client.with_gate(Arc::new(gate.clone()));
    (gate, gated)
}

/// The client's view of the gate: it admits calls while open and closes on unreachability.
impl dezky_authentik::CallGate for Gate {
    fn admits(&self) -> bool {
        self.is_open()
    }

    fn unreachable(&self) {
        self.report_unreachable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: i64, class: &str) -> RecordedError {
        RecordedError {
            at,
            attempt: 1,
            class: class.into(),
            message: String::new(),
        }
    }

    #[test]
    fn a_wait_begins_at_the_first_of_the_trailing_gate_entries() {
        assert_eq!(waiting_since(&[]), None);
        assert_eq!(waiting_since(&[entry(1, "transient")]), None);
        let errors = [
            entry(1, GATE_CLOSED),
            entry(2, "transient"),
            entry(3, GATE_CLOSED),
            entry(4, GATE_CLOSED),
        ];
        assert_eq!(waiting_since(&errors), Some(3));
    }
}
