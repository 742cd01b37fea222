//! Turning `queue_jobs` rows into [`Job`]s.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::QueueError;
use crate::model::{Job, JobId, RecordedError};

/// Columns every job query selects; `result` is selected only by `get`.
pub(super) const JOB_COLUMNS: &str = "seq, id, kind, queue, state, args, priority, attempt, max_attempts,
    snoozes, tenant, enqueued_by, run_at, created_at, finished_at, cancel_requested, worker, errors::text AS errors";

/// Builds a job from a row with [`JOB_COLUMNS`] (and `result`, when `with_result`).
pub(super) fn job_from_row(r: &PgRow, with_result: bool) -> Result<Job, QueueError> {
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
        cancel_requested: r.try_get("cancel_requested")?,
        worker: r.try_get("worker")?,
        errors: serde_json::from_str::<Vec<RecordedError>>(&errors).unwrap_or_default(),
        result,
    })
}
