//! Turning `queue_jobs` rows into [`Job`]s.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::QueueError;
use crate::model::Job;

/// Columns every job query selects (`errors` as JSON text, as on SQLite); `result` is selected
/// only by `get`.
pub(super) const JOB_COLUMNS: &str = "seq, id, kind, queue, state, args, priority, attempt, max_attempts,
    snoozes, tenant, enqueued_by, run_at, created_at, finished_at, cancel_requested, worker, errors::text AS errors";

/// Builds a job from a row with [`JOB_COLUMNS`] (and `result`, when `with_result`).
pub(super) fn job_from_row(r: &PgRow, with_result: bool) -> Result<Job, QueueError> {
    crate::job_row::job_from_row(r, with_result, |r| r.try_get("cancel_requested"))
}
