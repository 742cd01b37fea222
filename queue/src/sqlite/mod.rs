//! The embedded SQLite backend: one file, WAL, our own migrations beside our own tables.
//!
//! All writes go through one connection, so in-process writers queue in memory instead of
//! fighting over SQLite's lock. Pushes, fetches, renewals, completions and releases go through
//! one task that commits whatever is queued in one `BEGIN IMMEDIATE` transaction (group commit,
//! [`writer`]); `BEGIN IMMEDIATE` makes writers in other processes on the same file wait (busy
//! timeout) instead of deadlocking. Reads use a separate pool. Wake-ups are in-process
//! ([`WakeHub`]); other processes poll.

mod activity;
mod admin;
pub mod in_tx;
mod lease;
mod locks;
mod migrate;
mod push;
mod row;
mod search;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::backend::QueueBackend;
use crate::backoff::RetryPolicy;
use crate::clock::{Clock, SystemClock};
use crate::error::QueueError;
use crate::model::{
    FetchRequest, Fetched, HeldLock, Job, JobFilter, JobId, JobPage, JobState, Lease, NewJob,
    Outcome, Pushed, QueueActivity, QueueCounts, Renewed, Retention,
};
use crate::wake::{WakeHub, WakeSignal};
pub use writer::WriteStats;
use writer::{Ctx, Writer};

pub use migrate::{migrate_sqlite, while_busy};

/// Our migrations (queue and store tables), applied by one migrator ([`migrate_sqlite`]).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Tuning of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteQueueConfig {
    /// Retry backoff.
    pub retry: RetryPolicy,
    /// Most scheduled jobs one fetch promotes.
    pub promote_limit: usize,
    /// Most expired leases one fetch rescues.
    pub rescue_limit: usize,
    /// Connections for reads.
    pub read_connections: u32,
    /// How long a writer waits for another process's lock.
    pub busy_timeout: Duration,
    /// Most rows one `list` request examines before it answers with a cursor to go on (for
    /// filters no index answers, such as text in args). 20,000 rows are a few milliseconds.
    pub search_budget: usize,
    /// Most write requests (pushes, fetches, acks…) one transaction carries. 1 turns group
    /// commit off: one transaction per request.
    pub max_group: usize,
    /// Counters of the writer (requests, transactions), shared by clones of the config.
    pub write_stats: Arc<WriteStats>,
}

impl Default for SqliteQueueConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            promote_limit: 1000,
            rescue_limit: 1000,
            read_connections: 4,
            busy_timeout: Duration::from_secs(10),
            search_budget: 20_000,
            max_group: 128,
            write_stats: Arc::default(),
        }
    }
}

/// The SQLite queue. Clones share pools, clock and wake-ups.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    /// The write connection, for admin writes; the writer task shares it.
    write: SqlitePool,
    read: SqlitePool,
    /// The connection WAL checkpoints run on, beside the writer.
    checkpoints: SqlitePool,
    writer: Writer,
    clock: Arc<dyn Clock>,
    hub: WakeHub,
    config: SqliteQueueConfig,
    /// The database file.
    path: Arc<std::path::Path>,
}

impl SqliteQueue {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`
    /// is not supported: the queue needs a file shared by two pools) and applies migrations.
    pub async fn open(
        url: &str,
        clock: Arc<dyn Clock>,
        config: SqliteQueueConfig,
    ) -> Result<Self, QueueError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| QueueError::Invalid(format!("bad SQLite URL `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true);
        let write = migrate::while_busy(|| {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                // A file connection cannot go stale the way a network one can; the ping on every
                // acquire would cost each group a round trip to the connection's thread.
                .test_before_acquire(false)
                // Checkpoints run beside the writer, on their own connection (writer.rs).
                .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
        })
        .await?;
        migrate_sqlite(&write, options.get_filename()).await?;
        let path: Arc<std::path::Path> = options.get_filename().into();
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.read_connections.max(1))
            .connect_with(options.read_only(true))
            .await?;
        let hub = WakeHub::default();
        let writer = Writer::start(Ctx {
            pool: write.clone(),
            checkpoints: checkpoints.clone(),
            clock: clock.clone(),
            config: config.clone(),
            hub: hub.clone(),
        });
        Ok(Self {
            write,
            read,
            checkpoints,
            writer,
            clock,
            hub,
            config,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Opens with the system clock and default tuning.
    pub async fn open_default(url: &str) -> Result<Self, QueueError> {
        Self::open(url, Arc::new(SystemClock), SqliteQueueConfig::default()).await
    }

    /// Applies migrations to the database at `url` and closes it.
    pub async fn migrate(url: &str) -> Result<(), QueueError> {
        let q = Self::open_default(url).await?;
        q.close().await;
        Ok(())
    }

    /// Closes the pools, once the writer's group in flight (if any) is done; later operations
    /// fail.
    pub async fn close(&self) {
        self.write.close().await;
        self.checkpoints.close().await;
        self.read.close().await;
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

#[async_trait]
impl QueueBackend for SqliteQueue {
    fn name(&self) -> &'static str {
        "sqlite"
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
        let mut conn = self.write.acquire().await?;
        lease::rescue(&mut conn, None, self.now(), limit).await
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
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn in_database(&self) -> Option<crate::InDatabase> {
        Some(crate::InDatabase::Sqlite(self.clone()))
    }
}
