//! What a queue operation can fail with, one variant per thing a caller can act on.

/// A queue operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The lease token no longer holds the job: it expired and the job was rescued or re-leased.
    #[error("lease lost: job {0} is no longer held by this lease")]
    LeaseLost(String),
    /// No job has this id.
    #[error("job {0} not found")]
    NotFound(String),
    /// The operation does not apply to the job in its current state.
    #[error("job {id} is {state}: {reason}")]
    InvalidState {
        /// The job.
        id: String,
        /// Its state now.
        state: String,
        /// Why the operation does not apply.
        reason: &'static str,
    },
    /// The request itself is malformed (empty kind, zero max_attempts, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The backing store failed or is unreachable; the operation may be retried.
    #[error("queue storage unavailable: {0}")]
    Storage(String),
}

impl QueueError {
    /// Why an admin operation on job `id` changed nothing: no such job (`found` is `None`), or a
    /// state `reason` says it does not apply to.
    pub fn refused(id: &str, found: Option<&crate::model::Job>, reason: &'static str) -> Self {
        match found {
            Some(job) => QueueError::InvalidState {
                id: id.to_owned(),
                state: job.state.to_string(),
                reason,
            },
            None => QueueError::NotFound(id.to_owned()),
        }
    }
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        QueueError::Storage(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for QueueError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        QueueError::Storage(e.to_string())
    }
}
