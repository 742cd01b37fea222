//! What every backend refuses to push, checked the same way whichever backend it is.

use crate::error::QueueError;
use crate::model::{NewJob, PRIORITY_RANGE};

/// Checks a job before any backend stores it.
pub fn validate(job: &NewJob) -> Result<(), QueueError> {
    if job.kind.trim().is_empty() {
        return Err(QueueError::Invalid("kind must not be empty".into()));
    }
    validate_queue_name(job.queue_name())?;
    if job.max_attempts == 0 {
        return Err(QueueError::Invalid(
            "max_attempts must be at least 1".into(),
        ));
    }
    if !PRIORITY_RANGE.contains(&job.priority) {
        return Err(QueueError::Invalid(format!(
            "priority must be between {} and {}",
            PRIORITY_RANGE.start(),
            PRIORITY_RANGE.end()
        )));
    }
    if job.dedup.as_ref().is_some_and(|d| d.key.is_empty()) {
        return Err(QueueError::Invalid("dedup key must not be empty".into()));
    }
    Ok(())
}

/// Checks a bulk push: every job valid, and all of one queue, so that every backend can make it
/// all-or-nothing in one atomic step (one transaction, one script call on one hash slot).
pub fn validate_bulk(jobs: &[NewJob]) -> Result<(), QueueError> {
    jobs.iter().try_for_each(validate)?;
    if let Some(first) = jobs.first()
        && let Some(other) = jobs.iter().find(|j| j.queue_name() != first.queue_name())
    {
        return Err(QueueError::Invalid(format!(
            "a bulk push goes to one queue; this one spans `{}` and `{}`",
            first.queue_name(),
            other.queue_name()
        )));
    }
    Ok(())
}

/// The longest lock key.
pub const MAX_LOCK_KEY: usize = 200;

/// Checks a lock key and its time to live.
pub fn validate_lock(key: &str, ttl: std::time::Duration) -> Result<(), QueueError> {
    if key.is_empty() || key.len() > MAX_LOCK_KEY {
        return Err(QueueError::Invalid(format!(
            "a lock key is 1 to {MAX_LOCK_KEY} bytes"
        )));
    }
    if ttl.as_millis() == 0 {
        return Err(QueueError::Invalid(
            "a lock's time to live must be at least 1 ms".into(),
        ));
    }
    Ok(())
}

/// The longest queue name.
pub const MAX_QUEUE_NAME: usize = 100;

/// Checks a queue name (pushes, pause and resume): 1 to 100 letters, digits, `_`, `-`, `.` or
/// `:`. Names go into ids (`<ULID>.<queue>`), URLs and Redis hash tags, so no character there
/// needs escaping and none (`{`, `}`) changes which slot a key lands on.
pub fn validate_queue_name(queue: &str) -> Result<(), QueueError> {
    if queue.is_empty() {
        return Err(QueueError::Invalid("queue must not be empty".into()));
    }
    if queue.len() > MAX_QUEUE_NAME
        || !queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err(QueueError::Invalid(format!(
            "queue names are 1 to {MAX_QUEUE_NAME} letters, digits, `_`, `-`, `.` or `:`"
        )));
    }
    Ok(())
}
