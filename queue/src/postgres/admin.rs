//! Admin operations: get, counts, activity, retry now, discard, cancel, delete, pause and
//! retention (search is [`search`](super::search)).

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Row};

use super::row::{JOB_COLUMNS, job_from_row};
use super::{PostgresQueue, limit_i64};
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::machine::{CANCEL_REFUSED, DELETE_REFUSED, DISCARD_REFUSED, RETRY_REFUSED};
use crate::model::{FinishedWithin, Job, JobId, JobState, QueueActivity, QueueCounts, Retention};
use crate::validate::validate_queue_name;

impl PostgresQueue {
    pub(super) async fn get_job(&self, id: &JobId) -> Result<Option<Job>, QueueError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS}, result FROM queue_jobs WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| job_from_row(&r, true)).transpose()
    }

    pub(super) async fn queue_counts(&self) -> Result<Vec<QueueCounts>, QueueError> {
        // Totals and the deltas appended since the last fold, in one snapshot: a few rows a
        // queue, whatever the number of jobs.
        self.fold_counts().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT queue, state, sum(n)::bigint AS n FROM (
                 SELECT queue, state, n FROM queue_counts
                 UNION ALL SELECT queue, state, n FROM queue_count_deltas
             ) c GROUP BY queue, state HAVING sum(n) > 0",
        )
        .fetch_all(&mut *tx)
        .await?;
        let paused: Vec<String> = sqlx::query_scalar("SELECT name FROM queue_queues WHERE paused")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut by_queue: BTreeMap<String, QueueCounts> = BTreeMap::new();
        for r in rows {
            let queue: String = r.try_get("queue")?;
            let state: JobState = r
                .try_get::<String, _>("state")?
                .parse()
                .map_err(QueueError::Storage)?;
            let n = r.try_get::<i64, _>("n")?.max(0) as u64;
            let counts = by_queue
                .entry(queue.clone())
                .or_insert_with(|| QueueCounts::empty(&queue));
            if let Some(c) = counts.counts.iter_mut().find(|(s, _)| *s == state) {
                c.1 = n;
            }
        }
        for q in paused {
            by_queue
                .entry(q.clone())
                .or_insert_with(|| QueueCounts::empty(&q))
                .paused = true;
        }
        Ok(by_queue.into_values().collect())
    }

    /// Folds the count deltas written since the last fold into the totals (a concurrent fold
    /// skips the rows this one deleted). `counts` and retention call it, so deltas stay few.
    async fn fold_counts(&self) -> Result<(), QueueError> {
        sqlx::query(
            "WITH moved AS (DELETE FROM queue_count_deltas RETURNING queue, state, n)
             INSERT INTO queue_counts (queue, state, n)
             SELECT queue, state, sum(n) FROM moved GROUP BY queue, state ORDER BY queue, state
             ON CONFLICT (queue, state) DO UPDATE SET n = queue_counts.n + excluded.n",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn queue_activity(
        &self,
        windows: &[Duration],
    ) -> Result<Vec<QueueActivity>, QueueError> {
        let queues = self.queue_counts().await?;
        let now: i64 = sqlx::query_scalar("SELECT queue_now($1)")
            .bind(self.now())
            .fetch_one(&self.pool)
            .await?;
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(queues.len());
        for counts in queues {
            let queue = counts.queue;
            // The fetch index orders a queue's available jobs by priority, then run_at: the
            // oldest is the earliest of each priority band's first, one seek a band.
            let oldest: Option<i64> = sqlx::query_scalar(
                "WITH RECURSIVE bands AS (
                     (SELECT priority, run_at FROM queue_jobs
                      WHERE queue = $1 AND state = 'available'
                      ORDER BY priority DESC, run_at LIMIT 1)
                     UNION ALL
                     SELECT n.priority, n.run_at FROM bands b, LATERAL (
                         SELECT priority, run_at FROM queue_jobs
                         WHERE queue = $1 AND state = 'available' AND priority < b.priority
                         ORDER BY priority DESC, run_at LIMIT 1) n
                 )
                 SELECT min(run_at) FROM bands",
            )
            .bind(&queue)
            .fetch_one(&mut *conn)
            .await?;
            let mut finished = Vec::with_capacity(windows.len());
            for &window in windows {
                let row = sqlx::query(
                    "SELECT count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                            count(*) FILTER (WHERE state = 'dead') AS dead
                     FROM queue_jobs
                     WHERE queue = $1 AND state IN ('succeeded', 'dead') AND finished_at >= $2",
                )
                .bind(&queue)
                .bind(now.saturating_sub(duration_ms(window)))
                .fetch_one(&mut *conn)
                .await?;
                finished.push(FinishedWithin {
                    window,
                    succeeded: row.try_get::<i64, _>("succeeded")?.max(0) as u64,
                    dead: row.try_get::<i64, _>("dead")?.max(0) as u64,
                });
            }
            out.push(QueueActivity {
                queue,
                oldest_available_age: oldest
                    .map(|run_at| Duration::from_millis(now.saturating_sub(run_at).max(0) as u64)),
                finished,
            });
        }
        Ok(out)
    }

    pub(super) async fn retry_job(&self, id: &JobId) -> Result<Job, QueueError> {
        let queue: Option<String> = sqlx::query_scalar(
            "WITH done AS (
                 UPDATE queue_jobs
                 SET state = 'available', run_at = queue_now($1), finished_at = NULL,
                     cancel_requested = FALSE, max_attempts = GREATEST(max_attempts, attempt + 1)
                 WHERE id = $2 AND state IN ('scheduled', 'dead', 'cancelled')
                 RETURNING queue
             )
             SELECT queue FROM done WHERE pg_notify($3, current_schema() || '/' || queue) IS NOT NULL",
        )
        .bind(self.now())
        .bind(id.as_str())
        .bind(super::push::CHANNEL)
        .fetch_optional(&self.pool)
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
        let done = sqlx::query(
            "UPDATE queue_jobs
             SET state = 'dead', finished_at = queue_now($1), lease_token = NULL,
                 lease_expires_at = NULL, worker = NULL,
                 errors = errors || jsonb_build_array(jsonb_build_object('at', queue_now($1),
                     'attempt', attempt, 'class', 'discarded', 'message', $3::text))
             WHERE id = $2 AND state IN ('scheduled', 'available', 'running')",
        )
        .bind(self.now())
        .bind(id.as_str())
        .bind(reason)
        .execute(&self.pool)
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
                 cancel_requested = (state = 'running') OR cancel_requested,
                 finished_at = CASE WHEN state = 'running' THEN NULL ELSE queue_now($1) END
             WHERE id = $2 AND state IN ('scheduled', 'available', 'running')",
        )
        .bind(self.now())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.refusal(id, CANCEL_REFUSED).await);
        }
        self.require(id).await
    }

    pub(super) async fn delete_job(&self, id: &JobId) -> Result<Job, QueueError> {
        // As retention deletes: the job's dedup key stays until its window ends.
        let row = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM queue_jobs WHERE id = $1 AND state IN ('succeeded', 'dead', 'cancelled')
             RETURNING {JOB_COLUMNS}, result"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => job_from_row(&r, true),
            None => Err(self.refusal(id, DELETE_REFUSED).await),
        }
    }

    pub(super) async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        sqlx::query(
            "INSERT INTO queue_queues (name, paused, updated_at) VALUES ($2, $3, queue_now($1))
             ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at",
        )
        .bind(self.now())
        .bind(queue)
        .bind(paused)
        .execute(&self.pool)
        .await?;
        if !paused {
            sqlx::query("SELECT pg_notify($1, current_schema() || '/' || $2)")
                .bind(super::push::CHANNEL)
                .bind(queue)
                .execute(&self.pool)
                .await?;
            self.hub.notify(queue);
        }
        Ok(())
    }

    /// Deletes finished jobs past their retention, at most `limit`, in batches of at most
    /// [`PRUNE_BATCH`] rows a statement (each its own transaction: no long locks, and rows a
    /// concurrent pruner holds are skipped).
    pub(super) async fn prune_finished(
        &self,
        retention: Retention,
        limit: usize,
    ) -> Result<usize, QueueError> {
        let mut deleted = 0;
        for (states, keep) in [
            (&["succeeded"][..], retention.succeeded),
            (&["dead", "cancelled"][..], retention.dead),
        ] {
            let states: Vec<String> = states.iter().map(|s| (*s).to_owned()).collect();
            while deleted < limit {
                let batch = (limit - deleted).min(PRUNE_BATCH);
                let done = sqlx::query(
                    "DELETE FROM queue_jobs WHERE seq IN (
                         SELECT seq FROM queue_jobs
                         WHERE state = ANY($2) AND finished_at < queue_now($1) - $3
                         LIMIT $4 FOR UPDATE SKIP LOCKED)",
                )
                .bind(self.now())
                .bind(&states)
                .bind(duration_ms(keep))
                .bind(limit_i64(batch))
                .execute(&self.pool)
                .await?
                .rows_affected() as usize;
                deleted += done;
                if done < batch {
                    break;
                }
            }
        }
        self.fold_counts().await?;
        // Dedup keys past their window whose job is gone (not counted: not jobs).
        sqlx::query(
            "DELETE FROM queue_dedup WHERE (queue, key) IN (
                 SELECT d.queue, d.key FROM queue_dedup d WHERE d.until <= queue_now($1)
                   AND NOT EXISTS (SELECT 1 FROM queue_jobs j WHERE j.id = d.job_id)
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(self.now())
        .bind(limit_i64(limit.clamp(1, PRUNE_BATCH)))
        .execute(&self.pool)
        .await?;
        Ok(deleted)
    }

    /// The job after an admin change.
    async fn require(&self, id: &JobId) -> Result<Job, QueueError> {
        self.get_job(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.0.clone()))
    }

    /// Why an admin change touched nothing: no such job, or a state it does not apply to.
    async fn refusal(&self, id: &JobId, reason: &'static str) -> QueueError {
        match self.get_job(id).await {
            Ok(found) => QueueError::refused(id.as_str(), found.as_ref(), reason),
            Err(e) => e,
        }
    }
}

/// Most rows one retention statement deletes.
const PRUNE_BATCH: usize = 1000;
