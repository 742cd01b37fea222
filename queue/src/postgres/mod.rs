//! The PostgreSQL backend of the queue contract: the queue's tables beside the store's, in the
//! same database, so a route's store writes and its job's push — and a handler's store writes,
//! its children and its completion — can commit in one transaction ([`in_tx`]).
//!
//! Fetch leases with `FOR UPDATE SKIP LOCKED`, so workers in any number of processes take
//! disjoint jobs without waiting on each other; rescue of expired leases and promotion of due
//! scheduled jobs run before it, each bounded per call. Time is the database's (`queue_now`, one
//! clock for every host) unless a test overrides it. Pushes wake idle processes with `NOTIFY`
//! (one per statement and queue, sent by PostgreSQL at commit), which each process's listener
//! ([`wake`]) turns into in-process wake-ups; the worker's poll is the fallback. Batches of acks
//! commit in one transaction (the worker's ack batcher groups them). Counts come from per-statement
//! deltas folded on read; retention deletes in bounded batches.

mod admin;
pub mod in_tx;
mod lease;
mod locks;
mod push;
mod row;
mod search;
mod wake;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::backend::QueueBackend;
use crate::backoff::RetryPolicy;
use crate::clock::Clock;
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, HeldLock, Job, JobFilter, JobId, JobPage, JobState, Lease, NewJob,
    Outcome, Pushed, QueueActivity, QueueCounts, Renewed, Retention,
};
use crate::wake::{WakeHub, WakeSignal};

/// Our PostgreSQL migrations (queue and store tables), one migrator for both crates.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Tuning of the PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PostgresQueueConfig {
    /// Retry backoff.
    pub retry: RetryPolicy,
    /// Most scheduled jobs one fetch promotes.
    pub promote_limit: usize,
    /// Most expired leases one fetch rescues.
    pub rescue_limit: usize,
    /// Connections in the pool.
    pub connections: u32,
    /// Most rows one `list` request examines when no index answers its filters (as on SQLite).
    pub search_budget: usize,
    /// Whose time leases, promotion, rescue and retention follow: `None` (production) is the
    /// database's, the one clock every host shares; `Some` is a test's override.
    pub clock_override: Option<Arc<dyn Clock>>,
}

impl Default for PostgresQueueConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            promote_limit: 1000,
            rescue_limit: 1000,
            connections: 16,
            search_budget: 20_000,
            clock_override: None,
        }
    }
}

/// The PostgreSQL queue. Clones share the pool, the listener and wake-ups.
#[derive(Debug, Clone)]
pub struct PostgresQueue {
    pool: PgPool,
    hub: WakeHub,
    config: PostgresQueueConfig,
    /// Whether text search has its trigram index.
    trigram: bool,
    listener: Arc<wake::Listener>,
}

impl PostgresQueue {
    /// Connects to `url` (`postgres://…`; a `search_path` in its options picks the schema) and
    /// applies migrations.
    pub async fn open(url: &str, config: PostgresQueueConfig) -> Result<Self, QueueError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| QueueError::Invalid(format!("bad PostgreSQL URL: {e}")))?;
        Self::open_with(options, config).await
    }

    /// Connects with `options` and applies migrations.
    pub async fn open_with(
        options: PgConnectOptions,
        config: PostgresQueueConfig,
    ) -> Result<Self, QueueError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let trigram: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes
                            WHERE schemaname = current_schema() AND indexname = 'queue_jobs_args_trgm')",
        )
        .fetch_one(&pool)
        .await?;
        let hub = WakeHub::default();
        // `NOTIFY` is per database: wake-ups name the schema the queue's tables are in.
        let listener = Arc::new(wake::Listener::start(
            pool.clone(),
            schema.into(),
            hub.clone(),
        ));
        Ok(Self {
            pool,
            hub,
            config,
            trigram,
            listener,
        })
    }

    /// Applies migrations to the database at `url` and closes it.
    pub async fn migrate(url: &str) -> Result<(), QueueError> {
        let q = Self::open(url, PostgresQueueConfig::default()).await?;
        q.close().await;
        Ok(())
    }

    /// The pool (the store shares it when it uses the same database).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether text search uses the trigram index (`pg_trgm` could be had).
    pub fn has_trigram_search(&self) -> bool {
        self.trigram
    }

    /// Closes the pool; later operations fail.
    pub async fn close(&self) {
        self.listener.stop();
        self.pool.close().await;
    }

    /// The time to bind as `queue_now`'s override: `None` is the database's own.
    fn now(&self) -> Option<i64> {
        self.config.clock_override.as_ref().map(|c| c.now_ms())
    }

    /// Tells this process's idle workers of `queues` (other processes hear the `NOTIFY`).
    pub(crate) fn wake_local<'a>(&self, queues: impl IntoIterator<Item = &'a String>) {
        for queue in queues {
            self.hub.notify(queue);
        }
    }
}

#[async_trait]
impl QueueBackend for PostgresQueue {
    fn name(&self) -> &'static str {
        "postgres"
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
        let mut conn = self.pool.acquire().await?;
        lease::complete_on(&mut conn, self.now(), &self.config.retry, lease, &outcome).await
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
        lease::rescue(&self.pool, self.now(), None, limit).await
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
        self.delete_job(id).await
    }

    async fn retry_now(&self, id: &JobId) -> Result<Job, QueueError> {
        self.retry_job(id).await
    }

    async fn discard(&self, id: &JobId, reason: &str) -> Result<Job, QueueError> {
        self.discard_job(id, reason).await
    }

    async fn cancel(&self, id: &JobId) -> Result<Job, QueueError> {
        self.cancel_job(id).await
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
        self.hub.subscribe(queue)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn in_database(&self) -> Option<crate::InDatabase> {
        Some(crate::InDatabase::Postgres(self.clone()))
    }
}

/// A count or limit as PostgreSQL's `BIGINT`.
fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
