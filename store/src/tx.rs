//! Writes to the store and to the queue in one transaction, when the queue's tables are in the
//! store's database (the SQLite file, or PostgreSQL with `DEZKY_QUEUE=postgres`): a route's
//! store writes and its job's push, or a handler's store writes, its children and its own
//! completion, commit together or not at all (River's transactional enqueue and completion). A
//! crash between them leaves neither, where a queue elsewhere (Redis) can be left with one
//! without the other.
//!
//! Store methods are written once, over [`Exec`]: the pool (each statement on its own) or a
//! [`StoreTx`].

use std::collections::BTreeSet;

use dezky_queue::{
    DbConn, InDatabase, JobState, Lease, NewJob, Outcome, Pushed, QueueBackend, QueueError,
};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::{Store, StoreError};

/// Where a store statement runs.
pub(crate) enum Exec<'a> {
    /// On the pool, each statement committed on its own.
    Pool(&'a Store),
    /// In a transaction.
    Tx(&'a mut TxConn),
}

impl Exec<'_> {
    /// Which database it is (`sqlite`, `postgres`).
    pub(crate) fn dialect(&self) -> &'static str {
        match self {
            Exec::Pool(store) => store.dialect(),
            Exec::Tx(TxConn::Sqlite(_)) => "sqlite",
            Exec::Tx(TxConn::Postgres(_)) => "postgres",
        }
    }
}

/// Runs the same statement wherever `$exec` says: `$e` is bound to a pool or a connection of
/// either database (sqlx's executors for both).
macro_rules! on_exec {
    ($exec:expr, |$e:ident| $body:expr) => {
        match $exec {
            $crate::tx::Exec::Pool($crate::Store::Sqlite($e)) => $body,
            $crate::tx::Exec::Pool($crate::Store::Postgres($e)) => $body,
            $crate::tx::Exec::Tx($crate::tx::TxConn::Sqlite(tx)) => {
                let $e = &mut **tx;
                $body
            }
            $crate::tx::Exec::Tx($crate::tx::TxConn::Postgres(tx)) => {
                let $e = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_exec;

/// An open transaction of either database.
pub(crate) enum TxConn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl TxConn {
    /// Its connection, for the queue's writes.
    fn db(&mut self) -> DbConn<'_> {
        match self {
            TxConn::Sqlite(tx) => DbConn::Sqlite(&mut *tx),
            TxConn::Postgres(tx) => DbConn::Postgres(&mut *tx),
        }
    }
}

/// A transaction on the store that the queue in the same database pushes and completes in.
/// Dropped without [`commit`](Self::commit), it rolls back.
pub struct StoreTx {
    conn: TxConn,
    queue: InDatabase,
    woken: BTreeSet<String>,
}

impl std::fmt::Debug for StoreTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTx")
            .field("woken", &self.woken)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The queue's tables, when they are in this store's database — the same SQLite file, or the
    /// same PostgreSQL server, database and schema — so that [`begin_with`](Self::begin_with) can
    /// write both in one transaction; `None` when the queue is elsewhere (Redis, another file).
    pub async fn shared_with(
        &self,
        queue: &dyn QueueBackend,
    ) -> Result<Option<InDatabase>, StoreError> {
        let Some(db) = queue.in_database() else {
            return Ok(None);
        };
        let same = match (self, &db) {
            (Store::Sqlite(pool), InDatabase::Sqlite(q)) => {
                let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
                let ours = canonical(pool.connect_options().get_filename());
                ours.is_some() && ours == canonical(q.path())
            }
            (Store::Postgres(pool), InDatabase::Postgres(q)) => {
                const WHERE: &str = "SELECT concat_ws('/', inet_server_addr(), inet_server_port(),
                                                     current_database(), current_schema())";
                let ours: String = sqlx::query_scalar(WHERE).fetch_one(pool).await?;
                let theirs: String = sqlx::query_scalar(WHERE).fetch_one(q.pool()).await?;
                ours == theirs
            }
            _ => false,
        };
        Ok(same.then_some(db))
    }

    /// Begins a transaction in which `queue` — which must live in this store's database — pushes
    /// and completes along with the store's writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that it waits for other writers instead of failing on the upgrade.
    pub async fn begin_with(&self, queue: &InDatabase) -> Result<StoreTx, StoreError> {
        let conn = match (self, queue) {
            (Store::Sqlite(pool), InDatabase::Sqlite(_)) => {
                TxConn::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            (Store::Postgres(pool), InDatabase::Postgres(_)) => {
                TxConn::Postgres(pool.begin().await?)
            }
            _ => {
                return Err(StoreError::Config(
                    "the queue is not in the store's database".into(),
                ));
            }
        };
        Ok(StoreTx {
            conn,
            queue: queue.clone(),
            woken: BTreeSet::new(),
        })
    }
}

impl StoreTx {
    /// Where the store's statements run: in this transaction.
    pub(crate) fn exec(&mut self) -> Exec<'_> {
        Exec::Tx(&mut self.conn)
    }

    /// Pushes `jobs` in this transaction.
    pub async fn push(&mut self, jobs: &[NewJob]) -> Result<Vec<Pushed>, QueueError> {
        let (pushed, woken) = self.queue.push_in(self.conn.db(), jobs).await?;
        self.woken.extend(woken);
        Ok(pushed)
    }

    /// Ends the attempt of `lease` in this transaction, fenced as the queue's `complete` is.
    pub async fn complete(
        &mut self,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<JobState, QueueError> {
        self.queue.complete_in(self.conn.db(), lease, outcome).await
    }

    /// Commits everything written in it, then wakes this process's workers of the queues it
    /// pushed to.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        self.queue.woken(&self.woken);
        Ok(())
    }
}
