//! Turning a `queue_jobs` row of either SQL backend into a [`Job`]: the columns are the same on
//! SQLite and PostgreSQL (times and counters as 64-bit integers, JSON as text), save how
//! `cancel_requested` is stored, which the caller reads.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::error::QueueError;
use crate::model::{Job, JobId, RecordedError};

/// Builds a job from a row with every job column (and `result`, when `with_result`);
/// `cancel_requested` reads that column.
pub(crate) fn job_from_row<R>(
    r: &R,
    with_result: bool,
    cancel_requested: impl Fn(&R) -> Result<bool, sqlx::Error>,
) -> Result<Job, QueueError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let state: String = r.try_get("state")?;
    let args: String = r.try_get("args")?;
    let errors: String = r.try_get("errors")?;
    let result = if with_result {
        r.try_get::<Option<String>, _>("result")?
            .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::Null))
    } else {
        None
    };
    Ok(Job {
        id: JobId(r.try_get("id")?),
        kind: r.try_get("kind")?,
        queue: r.try_get("queue")?,
        state: state.parse().map_err(QueueError::Storage)?,
        args: serde_json::from_str(&args).unwrap_or(serde_json::Value::Null),
        priority: r.try_get::<i64, _>("priority")? as i32,
        attempt: r.try_get::<i64, _>("attempt")? as u32,
        max_attempts: r.try_get::<i64, _>("max_attempts")? as u32,
        snoozes: r.try_get::<i64, _>("snoozes")? as u32,
        tenant: r.try_get("tenant")?,
        enqueued_by: r.try_get("enqueued_by")?,
        run_at: r.try_get("run_at")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
        cancel_requested: cancel_requested(r)?,
        worker: r.try_get("worker")?,
        errors: serde_json::from_str::<Vec<RecordedError>>(&errors).unwrap_or_default(),
        result,
    })
}
