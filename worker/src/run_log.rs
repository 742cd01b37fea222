//! The run history hook: told when each attempt starts and how it ended, so a store can keep a
//! row per attempt (the binary keeps them in `dezky_store`). Telling it never blocks the job and
//! never fails it: history is for people, the queue is the truth.

/// An attempt as the run history sees it: started, and once it ended, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The job.
    pub job_id: String,
    /// The attempt (1-based).
    pub attempt: u32,
    /// The job's kind.
    pub kind: String,
    /// When it started (ms since the epoch).
    pub started_at: i64,
    /// How it ended, once it did.
    pub ended: Option<AttemptEnd>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptEnd {
    /// When (ms since the epoch).
    pub at: i64,
    /// What the worker recorded: `succeeded`, `retry`, `snooze`, `abort`, `cancelled`,
    /// `released` or `lease_lost`.
    pub outcome: &'static str,
    /// The error's class and message, if any (never a secret).
    pub error: Option<String>,
}

/// Where attempts are recorded. `record` must return at once (buffer, write elsewhere): it is
/// called on the job's path, twice per attempt.
pub trait RunLog: Send + Sync + std::fmt::Debug + 'static {
    /// An attempt started (`ended: None`) or ended.
    fn record(&self, attempt: AttemptRecord);
}
