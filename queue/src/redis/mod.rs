//! The Redis backend of the queue contract, for production, on one server or a Redis Cluster.
//!
//! Every key of one queue shares the hash tag `{queue}` under a configurable prefix
//! (`<prefix>:{<queue>}:…`), so each Lua script and each pipeline touches one slot; several
//! deployments share one Redis by prefix. Per queue: a hash per job; sorted sets for `available`
//! (priority, then run_at, then id), `scheduled` (run_at), `running` (lease expiry; members are
//! `id:token`, so removing the member *is* the fenced check) and the finished states
//! (finished_at, for retention); `all`, a lexicographic set of ids that pages search in creation
//! order without `SCAN`; a wake list idle processes block on. Fetch rescues and promotes, each
//! bounded, then leases a batch in one round trip. Ids carry their queue (`<ULID>.<queue>`), so a
//! call by id goes straight to its slot. Time is the server's (`TIME` in the scripts), so hosts
//! whose clocks differ agree on every lease; a test may override it with its own clock.

mod conn;
mod keys;
mod locks;
mod ops;
mod read;
mod scripts;
mod wake;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::QueueBackend;
use crate::backoff::RetryPolicy;
use crate::clock::Clock;
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, HeldLock, Job, JobFilter, JobId, JobPage, JobState, Lease, NewJob,
    Outcome, Pushed, QueueActivity, QueueCounts, Renewed, Retention,
};
use crate::wake::{WakeHub, WakeSignal};
/// A connection to the backend's Redis or cluster (benchmarks and diagnostics: `INFO`, clean-up).
pub use conn::Conn as RedisConnection;
pub use conn::reply_texts;
use conn::{Connector, storage};

/// Tuning of the Redis backend.
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// Every key starts with this (several deployments can share one Redis).
    pub prefix: String,
    /// Retry backoff.
    pub retry: RetryPolicy,
    /// Most scheduled jobs one fetch promotes.
    pub promote_limit: usize,
    /// Most expired leases one fetch rescues.
    pub rescue_limit: usize,
    /// How long an idle process blocks on a queue's wake list per call.
    pub wake_block: Duration,
    /// Whose time leases, promotion, rescue and retention follow: `None` (production) is the
    /// Redis server's `TIME`, the one clock every host shares; `Some` is an explicit override for
    /// tests that move time (the contract suite's manual clock).
    pub clock_override: Option<Arc<dyn Clock>>,
}

impl Default for RedisQueueConfig {
    fn default() -> Self {
        Self {
            prefix: "dezky".into(),
            retry: RetryPolicy::default(),
            promote_limit: 1000,
            rescue_limit: 1000,
            wake_block: Duration::from_secs(5),
            clock_override: None,
        }
    }
}

/// The Redis queue. Clones share connections, clock and wake-ups.
#[derive(Debug, Clone)]
pub struct RedisQueue {
    connector: Connector,
    conn: RedisConnection,
    hub: WakeHub,
    config: RedisQueueConfig,
    /// Queues this process registered in the queue index, so pushes skip the `SADD`.
    known_queues: Arc<Mutex<HashSet<String>>>,
    listeners: Arc<wake::Listeners>,
}

impl RedisQueue {
    /// Connects to `urls`: one server's URL, or seed nodes of a cluster, comma-separated.
    /// Whether it is a cluster is asked of the server. Connections come back by themselves after
    /// Redis restarts or fails over.
    pub async fn connect(urls: &str, config: RedisQueueConfig) -> Result<Self, QueueError> {
        let connector = Connector::detect(urls).await?;
        let conn = connector.shared().await?;
        Ok(Self {
            connector,
            conn,
            hub: WakeHub::default(),
            config,
            known_queues: Arc::default(),
            listeners: Arc::default(),
        })
    }

    /// Connects on server time with default tuning under `prefix`.
    pub async fn connect_default(urls: &str, prefix: &str) -> Result<Self, QueueError> {
        let config = RedisQueueConfig {
            prefix: prefix.to_owned(),
            ..RedisQueueConfig::default()
        };
        Self::connect(urls, config).await
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.connector.is_cluster()
    }

    /// Round trips to Redis made so far by this handle and its clones (tests and diagnostics).
    pub fn round_trips(&self) -> u64 {
        self.conn.round_trips()
    }

    /// The shared connection, for commands outside the queue's own (benchmarks, diagnostics).
    pub fn connection(&self) -> RedisConnection {
        self.conn.clone()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// What the servers say about their persistence, when one keeps none worth the name (on a
    /// cluster `INFO` goes to every node).
    pub async fn persistence_warning(&self) -> Result<Option<String>, QueueError> {
        let info: redis::Value = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let aof_off = reply_texts(&info)
            .iter()
            .any(|text| text.lines().any(|l| l.trim() == "aof_enabled:0"));
        Ok(aof_off.then(|| {
            "Redis has AOF persistence off (appendonly no): a Redis crash loses acknowledged jobs; \
             set `appendonly yes` (appendfsync everysec loses at most about a second, always none)"
                .to_owned()
        }))
    }

    /// The `now` argument of every script: the override clock's time, or '' for the server's.
    fn now_arg(&self) -> String {
        self.config
            .clock_override
            .as_ref()
            .map_or_else(String::new, |c| c.now_ms().to_string())
    }
}

#[async_trait]
impl QueueBackend for RedisQueue {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn push_bulk(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        self.push_many(jobs).await
    }

    async fn fetch(&self, req: FetchRequest) -> Result<Fetched, QueueError> {
        self.fetch_leases(req).await
    }

    async fn renew(&self, leases: &[Lease], ttl: Duration) -> Result<Renewed, QueueError> {
        self.renew_leases(leases, ttl).await
    }

    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<JobState, QueueError> {
        self.complete_lease(lease, outcome).await
    }

    async fn complete_many(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        self.complete_leases(items).await
    }

    async fn release(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        self.release_leases(leases).await
    }

    async fn rescue_expired(&self, limit: usize) -> Result<usize, QueueError> {
        self.rescue_all(limit).await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        self.get_job(id).await
    }

    async fn list(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        self.list_jobs(filter).await
    }

    async fn counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        self.queue_counts().await
    }

    async fn activity(&self, windows: &[Duration]) -> Result<Vec<QueueActivity>, QueueError> {
        self.queue_activity(windows).await
    }

    async fn delete(&self, id: &JobId) -> Result<Job, QueueError> {
        self.job_admin(id, "delete", "", crate::machine::DELETE_REFUSED)
            .await
    }

    async fn retry_now(&self, id: &JobId) -> Result<Job, QueueError> {
        self.job_admin(id, "retry", "", crate::machine::RETRY_REFUSED)
            .await
    }

    async fn discard(&self, id: &JobId, reason: &str) -> Result<Job, QueueError> {
        self.job_admin(id, "discard", reason, crate::machine::DISCARD_REFUSED)
            .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Job, QueueError> {
        self.job_admin(id, "cancel", "", crate::machine::CANCEL_REFUSED)
            .await
    }

    async fn pause(&self, queue: &str) -> Result<(), QueueError> {
        self.set_paused(queue, true).await
    }

    async fn resume(&self, queue: &str) -> Result<(), QueueError> {
        self.set_paused(queue, false).await
    }

    async fn prune(&self, retention: Retention, limit: usize) -> Result<usize, QueueError> {
        self.prune_finished(retention, limit).await
    }

    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<HeldLock>, QueueError> {
        self.take_lock(key, ttl).await
    }

    async fn renew_lock(&self, lock: &HeldLock, ttl: Duration) -> Result<bool, QueueError> {
        self.renew_held_lock(lock, ttl).await
    }

    async fn lock_held(&self, key: &str) -> Result<bool, QueueError> {
        self.is_lock_held(key).await
    }

    async fn unlock(&self, lock: &HeldLock) -> Result<bool, QueueError> {
        self.release_lock(lock).await
    }

    fn wake_signal(&self, queue: &str) -> WakeSignal {
        self.listeners.ensure(
            queue,
            &self.connector,
            &keys::queue_key(&self.config.prefix, queue, "wake"),
            &self.hub,
            self.config.wake_block,
        );
        self.hub.subscribe(queue)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        Ok(())
    }
}
