//! The Redis backend of the queue contract, for production.
//!
//! Every key of one queue shares the hash tag `{queue}` under a configurable prefix
//! (`<prefix>:{<queue>}:…`), so each Lua script touches one slot and the backend works on Redis
//! Cluster; several deployments share one Redis by prefix. Per queue: a hash per job; sorted sets
//! for `available` (priority, then run_at, then id), `scheduled` (run_at), `running` (lease
//! expiry; members are `id:token`, so removing the member *is* the fenced check) and the finished
//! states (finished_at, for retention); `all`, a lexicographic set of ids that pages search in
//! creation order without `SCAN`; a wake list idle processes block on. Fetch rescues and
//! promotes, each bounded, then leases a batch in one round trip. Time comes from our clock,
//! never from Redis, so the contract suite moves it.

mod ops;
mod read;
mod scripts;
mod wake;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::backend::QueueBackend;
use crate::backoff::RetryPolicy;
use crate::clock::{Clock, SystemClock};
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, Job, JobFilter, JobId, JobPage, JobState, Lease, NewJob, Outcome,
    Pushed, QueueCounts, Renewed, Retention,
};
use crate::wake::{WakeHub, WakeSignal};

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
}

impl Default for RedisQueueConfig {
    fn default() -> Self {
        Self {
            prefix: "dezky".into(),
            retry: RetryPolicy::default(),
            promote_limit: 1000,
            rescue_limit: 1000,
            wake_block: Duration::from_secs(5),
        }
    }
}

/// The Redis queue. Clones share connections, clock and wake-ups.
#[derive(Debug, Clone)]
pub struct RedisQueue {
    client: redis::Client,
    conn: ConnectionManager,
    clock: Arc<dyn Clock>,
    hub: WakeHub,
    config: RedisQueueConfig,
    /// Queues this process registered in the queue index, so pushes skip the `SADD`.
    known_queues: Arc<Mutex<HashSet<String>>>,
    listeners: Arc<wake::Listeners>,
}

impl RedisQueue {
    /// Connects to `url`. The connection reconnects by itself after Redis restarts.
    pub async fn connect(
        url: &str,
        clock: Arc<dyn Clock>,
        config: RedisQueueConfig,
    ) -> Result<Self, QueueError> {
        let client = redis::Client::open(url)
            .map_err(|e| QueueError::Invalid(format!("bad Redis URL: {e}")))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(storage)?;
        Ok(Self {
            client,
            conn,
            clock,
            hub: WakeHub::default(),
            config,
            known_queues: Arc::default(),
            listeners: Arc::default(),
        })
    }

    /// Connects with the system clock and default tuning under `prefix`.
    pub async fn connect_default(url: &str, prefix: &str) -> Result<Self, QueueError> {
        let config = RedisQueueConfig {
            prefix: prefix.to_owned(),
            ..RedisQueueConfig::default()
        };
        Self::connect(url, Arc::new(SystemClock), config).await
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// What the server says about its persistence, when it keeps none worth the name.
    pub async fn persistence_warning(&self) -> Result<Option<String>, QueueError> {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(storage)?;
        let aof = info.lines().any(|l| l.trim() == "aof_enabled:1");
        Ok((!aof).then(|| {
            "Redis has AOF persistence off (appendonly no): a Redis crash loses acknowledged jobs; \
             set `appendonly yes` (appendfsync everysec loses at most about a second, always none)"
                .to_owned()
        }))
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// `<prefix>:{<queue>}`, the base every key of the queue starts with.
    fn base(&self, queue: &str) -> String {
        format!("{}:{{{queue}}}", self.config.prefix)
    }

    /// The set of every queue name (outside any hash tag: read and written on its own).
    fn queues_key(&self) -> String {
        format!("{}:queues", self.config.prefix)
    }
}

fn storage(e: redis::RedisError) -> QueueError {
    QueueError::Storage(e.to_string())
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

    async fn retry_now(&self, id: &JobId) -> Result<Job, QueueError> {
        self.job_admin(
            id,
            "retry",
            "",
            "only scheduled, dead or cancelled jobs can be retried",
        )
        .await
    }

    async fn discard(&self, id: &JobId, reason: &str) -> Result<Job, QueueError> {
        self.job_admin(
            id,
            "discard",
            reason,
            "only unfinished jobs can be discarded",
        )
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Job, QueueError> {
        self.job_admin(id, "cancel", "", "only unfinished jobs can be cancelled")
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

    fn wake_signal(&self, queue: &str) -> WakeSignal {
        self.listeners.ensure(
            queue,
            &self.client,
            &self.base(queue),
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
