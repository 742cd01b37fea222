//! Admin operations: get, counts, retry now, discard, cancel, pause, retention (search is
//! [`search`](super::search)).

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use super::SqliteQueue;
use super::row::{JOB_COLUMNS, job_from_row};
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::machine::{CANCEL_REFUSED, DELETE_REFUSED, DISCARD_REFUSED, RETRY_REFUSED};
use crate::model::{Job, JobId, JobState, QueueCounts, Retention};
use crate::validate::validate_queue_name;

impl SqliteQueue {
    pub(super) async fn get_job(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        job_by_id(&self.read, id).await
    }

    pub(super) async fn queue_counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        // Counters kept by triggers (migration `queue_counts`): a few rows, whatever the
        // number of jobs. One read transaction, so counts and pause flags are of one moment.
        let mut tx = self.read.begin().await?;
        let rows = sqlx::query("SELECT queue, state, n FROM queue_counts WHERE n > 0")
            .fetch_all(&mut *tx)
            .await?;
        let mut by_queue: BTreeMap<String, QueueCounts> = BTreeMap::new();
        for r in rows {
            let queue: String = r.try_get("queue")?;
            let state: JobState = r
                .try_get::<String, _>("state")?
                .parse()
                .map_err(QueueError::Storage)?;
            let n = r.try_get::<i64, _>("n")? as u64;
            let counts = by_queue
                .entry(queue.clone())
                .or_insert_with(|| QueueCounts::empty(&queue));
            if let Some(c) = counts.counts.iter_mut().find(|(s, _)| *s == state) {
                c.1 = n;
            }
        }
        let paused: Vec<String> =
            sqlx::query_scalar("SELECT name FROM queue_queues WHERE paused = 1")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        for q in paused {
            by_queue
                .entry(q.clone())
                .or_insert_with(|| QueueCounts::empty(&q))
                .paused = true;
        }
        Ok(by_queue.into_values().collect())
    }

    pub(super) async fn retry_job(&self, id: &JobId) -> Result<Job, QueueError> {
        let now = self.now();
        let queue: Option<String> = sqlx::query_scalar(
            "UPDATE queue_jobs
             SET state = 'available', run_at = ?, finished_at = NULL, cancel_requested = 0,
                 max_attempts = max(max_attempts, attempt + 1)
             WHERE id = ? AND state IN ('scheduled', 'dead', 'cancelled')
             RETURNING queue",
        )
        .bind(now)
        .bind(id.as_str())
        .fetch_optional(&self.write)
        .await?;
        match queue {
            Some(q) => {
                self.hub.notify(&q);
                self.require(id).await
            }
            None => Err(self.refusal(id, RETRY_REFUSED).await),
        }
    }

    pub(super) async fn discard_job(&self, id: &JobId, reason: &str) -> Result<Job, QueueError> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE queue_jobs
             SET state = 'dead', finished_at = ?, lease_token = NULL, lease_expires_at = NULL, worker = NULL,
                 errors = json_insert(errors, '$[#]', json_object('at', ?, 'attempt', attempt,
                                                                  'class', 'discarded', 'message', ?))
             WHERE id = ? AND state IN ('scheduled', 'available', 'running')",
        )
        .bind(now)
        .bind(now)
        .bind(reason)
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.refusal(id, DISCARD_REFUSED).await);
        }
        self.require(id).await
    }

    pub(super) async fn cancel_job(&self, id: &JobId) -> Result<Job, QueueError> {
        let done = sqlx::query(
            "UPDATE queue_jobs
             SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
                 cancel_requested = CASE WHEN state = 'running' THEN 1 ELSE cancel_requested END,
                 finished_at = CASE WHEN state = 'running' THEN NULL ELSE ? END
             WHERE id = ? AND state IN ('scheduled', 'available', 'running')",
        )
        .bind(self.now())
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.refusal(id, CANCEL_REFUSED).await);
        }
        self.require(id).await
    }

    pub(super) async fn delete_job(&self, id: &JobId) -> Result<Job, QueueError> {
        let Some(job) = job_by_id(&self.write, id).await? else {
            return Err(QueueError::NotFound(id.0.clone()));
        };
        // As retention deletes: the job's dedup key stays in `queue_dedup` until its window
        // ends (prune clears it then).
        let done = sqlx::query(
            "DELETE FROM queue_jobs WHERE id = ? AND state IN ('succeeded', 'dead', 'cancelled')",
        )
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.refusal(id, DELETE_REFUSED).await);
        }
        Ok(job)
    }

    pub(super) async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        sqlx::query(
            "INSERT INTO queue_queues (name, paused, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at",
        )
        .bind(queue)
        .bind(paused)
        .bind(self.now())
        .execute(&self.write)
        .await?;
        if !paused {
            self.hub.notify(queue);
        }
        Ok(())
    }

    pub(super) async fn prune_finished(
        &self,
        retention: Retention,
        limit: usize,
    ) -> Result<usize, QueueError> {
        let now = self.now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for (states, keep) in [
            ("'succeeded'", retention.succeeded),
            ("'dead', 'cancelled'", retention.dead),
        ] {
            let cutoff = now.saturating_sub(duration_ms(keep));
            let done = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM queue_jobs WHERE seq IN (
                     SELECT seq FROM queue_jobs WHERE state IN ({states}) AND finished_at < ? LIMIT ?)"
            )))
            .bind(cutoff)
            .bind(limit - deleted as i64)
            .execute(&self.write)
            .await?;
            deleted += done.rows_affected() as usize;
        }
        // Dedup keys past their window whose job is gone (not counted: not jobs). A key whose
        // job still exists stays, so that retrying the job now makes it hold its key again.
        sqlx::query(
            "DELETE FROM queue_dedup WHERE (queue, key) IN (
                 SELECT d.queue, d.key FROM queue_dedup d WHERE d.until <= ?
                   AND NOT EXISTS (SELECT 1 FROM queue_jobs j WHERE j.id = d.job_id)
                 LIMIT ?)",
        )
        .bind(now)
        .bind(limit)
        .execute(&self.write)
        .await?;
        Ok(deleted)
    }

    /// The job after an admin change (read from the writer, so the change is visible).
    async fn require(&self, id: &JobId) -> Result<Job, QueueError> {
        job_by_id(&self.write, id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.0.clone()))
    }

    /// Why an admin change touched nothing: no such job, or a state it does not apply to.
    async fn refusal(&self, id: &JobId, reason: &'static str) -> QueueError {
        match job_by_id(&self.write, id).await {
            Ok(found) => QueueError::refused(id.as_str(), found.as_ref(), reason),
            Err(e) => e,
        }
    }
}

/// One job, with its result, read through `pool`.
async fn job_by_id(pool: &sqlx::SqlitePool, id: &JobId) -> Result<Option<Job>, QueueError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS}, result FROM queue_jobs WHERE id = ?"
    )))
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(|r| job_from_row(&r, true)).transpose()
}
