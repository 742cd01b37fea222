//! The queue's writes on a caller's own connection to the queue's file, so that they commit with
//! the caller's other writes (the store's tables are in the same file): a push, or an attempt's
//! completion, inside the transaction that writes the store. The caller's transaction must be
//! `BEGIN IMMEDIATE` (it writes; SQLite would otherwise fail it on the lock upgrade instead of
//! waiting). Wake-ups of this process wait for [`SqliteQueue::woken`] after the commit; other
//! processes poll.

use std::collections::BTreeSet;

use sqlx::SqliteConnection;

use super::writer::{Applied, Done};
use super::{SqliteQueue, lease, push};
use crate::error::QueueError;
use crate::model::{JobState, Lease, NewJob, Outcome, Pushed};
use crate::validate::validate_bulk;

impl SqliteQueue {
    /// Pushes `jobs` on `conn`, in its transaction; answers them and the queues to wake once it
    /// commits.
    pub async fn push_in(
        &self,
        conn: &mut SqliteConnection,
        jobs: &[NewJob],
    ) -> Result<(Vec<Pushed>, BTreeSet<String>), QueueError> {
        validate_bulk(jobs)?;
        match push::push_on(conn, jobs, self.now()).await? {
            Applied {
                done: Done::Pushed(pushed),
                wake,
            } => Ok((pushed, wake)),
            other => Err(super::writer::mismatch(other.done)),
        }
    }

    /// Ends the attempt of `lease` on `conn`, fenced as [`complete`](crate::QueueBackend::complete)
    /// is: it commits, or not, with `conn`'s transaction.
    pub async fn complete_in(
        &self,
        conn: &mut SqliteConnection,
        lease: &Lease,
        outcome: &Outcome,
    ) -> Result<JobState, QueueError> {
        let items = [(lease.clone(), outcome.clone())];
        match lease::complete_all_on(conn, &self.config, &items, self.now()).await? {
            Applied {
                done: Done::Completed(mut answers),
                ..
            } => answers
                .pop()
                .ok_or_else(|| QueueError::Storage("complete answered nothing".into()))?,
            other => Err(super::writer::mismatch(other.done)),
        }
    }

    /// Wakes this process's idle workers of `queues`, after the transaction that pushed to them
    /// committed.
    pub fn woken(&self, queues: &BTreeSet<String>) {
        for queue in queues {
            self.hub.notify(queue);
        }
    }
}
