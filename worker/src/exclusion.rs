//! Per-key exclusion: an attempt of a kind that declares keys (`JobKind::keys`) runs only while
//! it holds the queue's fenced lock on every one of them — across processes, since the locks
//! live in the queue's store. A key held elsewhere makes the job wait: it snoozes (no attempt
//! spent) and is tried again shortly. The locks last a lease's TTL and are renewed on the
//! lease's heartbeat while the handler runs; released when it ends, and on drop (a lost lease
//! drops the handler) by a task of their own. A lock lost while the handler runs (the store
//! missed renewals past its TTL) stops the attempt: another job may hold the key now.

use std::future::Future;
use std::time::Duration;

use dezky_jobs::JobError;
use dezky_queue::{DynQueue, HeldLock};
use rand::Rng;

/// Lock timing: how long a lock lives unrenewed and how often it is renewed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LockTiming {
    pub(crate) ttl: Duration,
    pub(crate) heartbeat: Duration,
}

/// How long a job whose key is busy waits before it is tried again: short, jittered, so that
/// jobs waiting on one key do not come back in step.
fn busy_delay() -> Duration {
    Duration::from_millis(rand::rng().random_range(150..=350))
}

/// Runs `attempt` holding the locks of `keys`; a busy key answers a snooze instead.
pub(crate) async fn run_holding<T>(
    queue: &DynQueue,
    mut keys: Vec<String>,
    timing: LockTiming,
    attempt: impl Future<Output = Result<T, JobError>>,
) -> Result<T, JobError> {
    if keys.is_empty() {
        return attempt.await;
    }
    keys.sort();
    keys.dedup();
    let mut held = Held {
        queue: queue.clone(),
        locks: Vec::with_capacity(keys.len()),
    };
    for key in keys {
        match queue.lock(&key, timing.ttl).await {
            Ok(Some(lock)) => held.locks.push(lock),
            Ok(None) => {
                tracing::debug!(key, "key held by another job; waiting");
                return Err(JobError::Snooze(busy_delay()));
            }
            Err(e) => {
                // The queue's store itself is failing: the ack will likely fail too; waiting
                // costs no attempt.
                tracing::warn!(key, error = %e, "could not take the key's lock; waiting");
                return Err(JobError::Snooze(busy_delay()));
            }
        }
    }
    let mut attempt = std::pin::pin!(attempt);
    let mut beat = tokio::time::interval(timing.heartbeat);
    beat.tick().await;
    loop {
        tokio::select! {
            result = &mut attempt => {
                held.release().await;
                return result;
            }
            _ = beat.tick() => {
                if let Some(lost) = held.renew(timing.ttl).await {
                    return Err(JobError::Retry {
                        class: "lock_lost",
                        message: format!("the lock on `{}` was lost while the attempt ran", lost.key),
                        retry_after: None,
                    });
                }
            }
        }
    }
}

/// The locks an attempt holds; released on drop if not before.
struct Held {
    queue: DynQueue,
    locks: Vec<HeldLock>,
}

impl Held {
    /// Renews every lock; answers the first one found lost. A store error is left to the next
    /// beat (the TTL spans several).
    async fn renew(&self, ttl: Duration) -> Option<HeldLock> {
        for lock in &self.locks {
            match self.queue.renew_lock(lock, ttl).await {
                Ok(true) => {}
                Ok(false) => return Some(lock.clone()),
                Err(e) => {
                    tracing::warn!(key = lock.key, error = %e, "could not renew a key's lock")
                }
            }
        }
        None
    }

    async fn release(&mut self) {
        for lock in self.locks.drain(..) {
            if let Err(e) = self.queue.unlock(&lock).await {
                tracing::warn!(key = lock.key, error = %e, "could not release a key's lock; it expires instead");
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.locks.is_empty() {
            return;
        }
        let mut rest = Held {
            queue: self.queue.clone(),
            locks: std::mem::take(&mut self.locks),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { rest.release().await });
        }
    }
}
