//! The queue's writes on a caller's own connection, so that they commit with the caller's other
//! writes to the same database (River's transactional enqueue and completion): a push, or an
//! attempt's completion, inside the transaction that writes the store. Wake-ups of this process
//! wait for [`PostgresQueue::woken`] after the commit; other processes hear the `NOTIFY`, which
//! PostgreSQL sends only if the transaction commits.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use super::{PostgresQueue, lease, push};
use crate::error::QueueError;
use crate::model::{JobState, Lease, NewJob, Outcome, Pushed};
use crate::validate::validate_bulk;

impl PostgresQueue {
    /// Pushes `jobs` on `conn`, which must be in a transaction; answers them and the queues to
    /// wake once it commits.
    pub async fn push_in(
        &self,
        conn: &mut PgConnection,
        jobs: &[NewJob],
    ) -> Result<(Vec<Pushed>, BTreeSet<String>), QueueError> {
        validate_bulk(jobs)?;
        push::push_on(conn, self.now(), jobs).await
    }

    /// Ends the attempt of `lease` on `conn`, fenced as [`complete`](crate::QueueBackend::complete)
    /// is: it commits, or not, with `conn`'s transaction.
    pub async fn complete_in(
        &self,
        conn: &mut PgConnection,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<JobState, QueueError> {
        lease::complete_on(conn, self.now(), &self.config.retry, lease, outcome).await
    }

    /// Wakes this process's idle workers of `queues`, after the transaction that pushed to them
    /// committed.
    pub fn woken(&self, queues: &BTreeSet<String>) {
        self.wake_local(queues);
    }
}
