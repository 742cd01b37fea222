//! A backend wrapped with faults and a record of calls, for the worker's tests: acks that take
//! their time (a slow store), renewals that fail or hang (a store out of reach), fetch answers
//! that come back late, and the time and size of every renewal call. Everything else passes straight through.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::backend::{DynQueue, QueueBackend};
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, HeldLock, Job, JobFilter, JobId, JobPage, JobState, Lease, NewJob,
    Outcome, Pushed, QueueActivity, QueueCounts, Renewed, Retention,
};
use crate::wake::WakeSignal;

/// A backend with injectable faults.
#[derive(Debug)]
pub struct Faulty {
    inner: DynQueue,
    /// Completions wait this long (ms) before reaching the store.
    ack_delay_ms: AtomicU64,
    /// Ack calls begun (complete and complete_many).
    acks_begun: AtomicU64,
    /// Renewals fail with a storage error.
    fail_renewals: AtomicBool,
    /// Renewals wait this long (ms) before reaching the store (a store out of reach).
    renew_delay_ms: AtomicU64,
    /// Fetch answers take this long (ms) to come back, after the store leased the jobs.
    fetch_reply_delay_ms: AtomicU64,
    /// When each renewal call came, with how many leases.
    renewals: Mutex<Vec<(Instant, usize)>>,
}

impl Faulty {
    /// `inner`, with no fault yet.
    pub fn new(inner: DynQueue) -> Self {
        Self {
            inner,
            ack_delay_ms: AtomicU64::new(0),
            acks_begun: AtomicU64::new(0),
            fail_renewals: AtomicBool::new(false),
            renew_delay_ms: AtomicU64::new(0),
            fetch_reply_delay_ms: AtomicU64::new(0),
            renewals: Mutex::default(),
        }
    }

    /// Makes every completion wait `delay` first.
    pub fn delay_acks(&self, delay: Duration) {
        self.ack_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Ack calls begun so far (an ack delayed by [`Faulty::delay_acks`] counts at once).
    pub fn acks_begun(&self) -> u64 {
        self.acks_begun.load(Ordering::SeqCst)
    }

    /// Makes renewals fail (or work again).
    pub fn fail_renewals(&self, fail: bool) {
        self.fail_renewals.store(fail, Ordering::SeqCst);
    }

    /// Makes every renewal wait `delay` first.
    pub fn delay_renewals(&self, delay: Duration) {
        self.renew_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes every fetch answer take `delay` to come back (the jobs are leased at once).
    pub fn delay_fetch_replies(&self, delay: Duration) {
        self.fetch_reply_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every renewal call so far: when, and how many leases.
    pub fn renewals(&self) -> Vec<(Instant, usize)> {
        self.renewals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fault itself: a store that takes `delay_ms` to answer.
    async fn slow(delay_ms: &AtomicU64) {
        let ms = delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

#[async_trait]
impl QueueBackend for Faulty {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn push_bulk(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        self.inner.push_bulk(jobs).await
    }

    async fn fetch(&self, req: FetchRequest) -> Result<Fetched, QueueError> {
        let fetched = self.inner.fetch(req).await;
        Self::slow(&self.fetch_reply_delay_ms).await;
        fetched
    }

    async fn renew(&self, leases: &[Lease], ttl: Duration) -> Result<Renewed, QueueError> {
        self.renewals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((Instant::now(), leases.len()));
        Self::slow(&self.renew_delay_ms).await;
        if self.fail_renewals.load(Ordering::SeqCst) {
            return Err(QueueError::Storage("renewals fail (injected)".into()));
        }
        self.inner.renew(leases, ttl).await
    }

    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<JobState, QueueError> {
        self.acks_begun.fetch_add(1, Ordering::SeqCst);
        Self::slow(&self.ack_delay_ms).await;
        self.inner.complete(lease, outcome).await
    }

    async fn complete_many(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        self.acks_begun.fetch_add(1, Ordering::SeqCst);
        Self::slow(&self.ack_delay_ms).await;
        self.inner.complete_many(items).await
    }

    async fn release(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        self.inner.release(leases).await
    }

    async fn rescue_expired(&self, limit: usize) -> Result<usize, QueueError> {
        self.inner.rescue_expired(limit).await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        self.inner.get(id).await
    }

    async fn list(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        self.inner.list(filter).await
    }

    async fn counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        self.inner.counts().await
    }

    async fn activity(&self, windows: &[Duration]) -> Result<Vec<QueueActivity>, QueueError> {
        self.inner.activity(windows).await
    }

    async fn delete(&self, id: &JobId) -> Result<Job, QueueError> {
        self.inner.delete(id).await
    }

    async fn retry_now(&self, id: &JobId) -> Result<Job, QueueError> {
        self.inner.retry_now(id).await
    }

    async fn discard(&self, id: &JobId, reason: &str) -> Result<Job, QueueError> {
        self.inner.discard(id, reason).await
    }

    async fn cancel(&self, id: &JobId) -> Result<Job, QueueError> {
        self.inner.cancel(id).await
    }

    async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        self.inner.pause(queue).await
    }

    async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        self.inner.resume(queue).await
    }

    async fn prune(&self, retention: Retention, limit: usize) -> Result<usize, QueueError> {
        self.inner.prune(retention, limit).await
    }

    fn wake_signal(&self, queue: &str) -> WakeSignal {
        self.inner.wake_signal(queue)
    }

    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<HeldLock>, QueueError> {
        self.inner.lock(key, ttl).await
    }

    async fn renew_lock(&self, lock: &HeldLock, ttl: Duration) -> Result<bool, QueueError> {
        self.inner.renew_lock(lock, ttl).await
    }

    async fn lock_held(&self, key: &str) -> Result<bool, QueueError> {
        self.inner.lock_held(key).await
    }

    async fn unlock(&self, lock: &HeldLock) -> Result<bool, QueueError> {
        self.inner.unlock(lock).await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }
}
