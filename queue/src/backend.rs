//! The operations every queue backend implements — the contract of `docs/queue-contract.md` in
//! code. Object-safe, so the API, the workers and the scheduler share one `Arc<dyn QueueBackend>`
//! and never know which backend is behind it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::QueueError;
use crate::model::{
    BulkAction, BulkDone, FetchRequest, Fetched, HeldLock, Job, JobFilter, JobId, JobPage,
    JobState, Lease, NewJob, Outcome, Pushed, QueueActivity, QueueCounts, Renewed, Retention,
};
use crate::wake::WakeSignal;

/// A shared handle on some backend.
pub type DynQueue = Arc<dyn QueueBackend>;

/// The queue contract. Every method is atomic on its own; see the contract document for what
/// each guarantees.
#[async_trait]
pub trait QueueBackend: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for logs and benchmarks (`sqlite`, `redis`).
    fn name(&self) -> &'static str;

    /// Inserts a job, or returns the existing one for a live dedup key.
    async fn push(&self, job: NewJob) -> Result<Pushed, QueueError> {
        let mut pushed = self.push_bulk(vec![job]).await?;
        pushed
            .pop()
            .ok_or_else(|| QueueError::Storage("push answered nothing".into()))
    }

    /// Inserts many jobs at once; answers one [`Pushed`] per job, in order.
    async fn push_bulk(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError>;

    /// Leases up to `limit` due jobs of an unpaused queue, highest priority first, then earliest
    /// `run_at`, then first pushed; counts the attempt. Promotes due scheduled jobs and rescues
    /// expired leases first, each bounded per call.
    async fn fetch(&self, req: FetchRequest) -> Result<Fetched, QueueError>;

    /// Extends leases still held; reports the ones lost and the ones asked to cancel.
    async fn renew(&self, leases: &[Lease], ttl: Duration) -> Result<Renewed, QueueError>;

    /// Ends an attempt. Fenced: fails with [`QueueError::LeaseLost`] unless `lease` still holds
    /// the job.
    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<JobState, QueueError>;

    /// Ends many attempts in one call (acks batch under load); one answer per item, in order.
    /// The call fails as a whole only when the store does; each item is fenced on its own.
    async fn complete_many(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        let mut out = Vec::with_capacity(items.len());
        for (lease, outcome) in items {
            match self.complete(lease, outcome.clone()).await {
                Err(QueueError::Storage(e)) => return Err(QueueError::Storage(e)),
                other => out.push(other),
            }
        }
        Ok(out)
    }

    /// Gives leased jobs back unstarted or interrupted by shutdown: available again, attempt
    /// refunded. Leases no longer held are skipped. Answers how many were released.
    async fn release(&self, leases: &[Lease]) -> Result<usize, QueueError>;

    /// Returns expired leases to `available` (or `dead` on their last attempt), at most `limit`.
    async fn rescue_expired(&self, limit: usize) -> Result<usize, QueueError>;

    /// One job by id, with errors and result.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, QueueError>;

    /// Search, newest first, without results.
    async fn list(&self, filter: JobFilter) -> Result<JobPage, QueueError>;

    /// Counts per queue and state, for every queue that has jobs or a pause flag.
    async fn counts(&self) -> Result<Vec<QueueCounts>, QueueError>;

    /// For every queue `counts` lists: how long its oldest available job has waited, and how many
    /// jobs succeeded and died within each of `windows` (closing now, on the store's clock).
    async fn activity(&self, windows: &[Duration]) -> Result<Vec<QueueActivity>, QueueError>;

    /// Deletes a finished (succeeded, dead or cancelled) job now, as retention would; answers
    /// the job as it was. Its dedup key answers on until its window ends.
    async fn delete(&self, id: &JobId) -> Result<Job, QueueError>;

    /// Retries now or deletes at most `limit` dead jobs matching `filter`, newest first, from
    /// its cursor on; bounded per call (see [`bulk_dead`](crate::bulk::bulk_dead)).
    async fn bulk_dead(
        &self,
        action: BulkAction,
        filter: JobFilter,
        limit: usize,
    ) -> Result<BulkDone, QueueError> {
        crate::bulk::bulk_dead(self, action, filter, limit).await
    }

    /// Makes a scheduled, dead or cancelled job available now (granting one more attempt when
    /// it had none left).
    async fn retry_now(&self, id: &JobId) -> Result<Job, QueueError>;

    /// Moves an unfinished job to `dead`, recording `reason`.
    async fn discard(&self, id: &JobId, reason: &str) -> Result<Job, QueueError>;

    /// Cancels a queued job at once; for a running one, records the request (the handler sees it
    /// through lease renewal and should stop).
    async fn cancel(&self, id: &JobId) -> Result<Job, QueueError>;

    /// Stops fetches from `queue` (running jobs carry on).
    async fn pause(&self, queue: &str) -> Result<(), QueueError>;

    /// Lets fetches from `queue` go on.
    async fn resume(&self, queue: &str) -> Result<(), QueueError>;

    /// Deletes finished jobs older than the retention, at most `limit`; answers how many.
    async fn prune(&self, retention: Retention, limit: usize) -> Result<usize, QueueError>;

    /// Takes the lock `key` for `ttl` unless another holds it: `None` while one does. The rules
    /// are [`lock_step`](crate::lock::lock_step); time is the store's, as for leases.
    async fn lock(&self, key: &str, ttl: Duration) -> Result<Option<HeldLock>, QueueError>;

    /// Holds `lock` `ttl` longer from now; `false` when it was lost (expired, taken since).
    async fn renew_lock(&self, lock: &HeldLock, ttl: Duration) -> Result<bool, QueueError>;

    /// Lets `lock` go; `false` when it was no longer held.
    async fn unlock(&self, lock: &HeldLock) -> Result<bool, QueueError>;

    /// Whether anyone holds the lock `key` now (a dependency gate is closed while its prober
    /// holds its lock).
    async fn lock_held(&self, key: &str) -> Result<bool, QueueError>;

    /// A signal that fires when `queue` may have new work (in-process pushes at once; other
    /// processes by the backend's own means, or the worker's fallback poll).
    fn wake_signal(&self, queue: &str) -> WakeSignal;

    /// Whether the store answers, for readiness probes.
    async fn ping(&self) -> Result<(), QueueError>;

    /// The backend as a SQL database's tables, when it is one: then the store in the same
    /// database can push and complete in its own transactions ([`InDatabase`]). `None` for Redis.
    fn in_database(&self) -> Option<InDatabase> {
        None
    }
}

/// A backend whose tables live in a SQL database the store may share, for pushes and
/// completions in the store's transactions (`push_in`, `complete_in`, then `woken`).
#[derive(Debug, Clone)]
pub enum InDatabase {
    /// The embedded SQLite file.
    Sqlite(crate::sqlite::SqliteQueue),
    /// PostgreSQL.
    Postgres(crate::postgres::PostgresQueue),
}

/// A caller's connection to the database an [`InDatabase`] queue lives in, inside its
/// transaction.
#[derive(Debug)]
pub enum DbConn<'a> {
    /// To the SQLite file (in a `BEGIN IMMEDIATE` transaction).
    Sqlite(&'a mut sqlx::SqliteConnection),
    /// To PostgreSQL.
    Postgres(&'a mut sqlx::PgConnection),
}

impl InDatabase {
    /// Pushes `jobs` on `conn`, in its transaction; answers them and the queues to wake once it
    /// commits ([`woken`](Self::woken)).
    pub async fn push_in(
        &self,
        conn: DbConn<'_>,
        jobs: &[NewJob],
    ) -> Result<(Vec<Pushed>, BTreeSet<String>), QueueError> {
        match (self, conn) {
            (InDatabase::Sqlite(q), DbConn::Sqlite(conn)) => q.push_in(conn, jobs).await,
            (InDatabase::Postgres(q), DbConn::Postgres(conn)) => q.push_in(conn, jobs).await,
            _ => Err(other_database()),
        }
    }

    /// Ends the attempt of `lease` on `conn`, fenced as [`QueueBackend::complete`] is: it
    /// commits, or not, with `conn`'s transaction.
    pub async fn complete_in(
        &self,
        conn: DbConn<'_>,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<JobState, QueueError> {
        match (self, conn) {
            (InDatabase::Sqlite(q), DbConn::Sqlite(conn)) => {
                q.complete_in(conn, lease, outcome).await
            }
            (InDatabase::Postgres(q), DbConn::Postgres(conn)) => {
                q.complete_in(conn, lease, outcome).await
            }
            _ => Err(other_database()),
        }
    }

    /// Wakes this process's idle workers of `queues`, once the transaction that pushed to them
    /// committed.
    pub fn woken(&self, queues: &BTreeSet<String>) {
        match self {
            InDatabase::Sqlite(q) => q.woken(queues),
            InDatabase::Postgres(q) => q.woken(queues),
        }
    }
}

fn other_database() -> QueueError {
    QueueError::Storage("the connection is not to the queue's database".into())
}
