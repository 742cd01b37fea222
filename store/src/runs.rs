//! The run history: a row per attempt, written when it starts and completed when it ends, so an
//! attempt that never ended (a killed worker) shows as started and unfinished.

use crate::{Store, StoreError, on_pool};

/// One attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Run {
    /// The job.
    pub job_id: String,
    /// Its attempt (1-based).
    pub attempt: i32,
    /// Its kind.
    pub kind: String,
    /// When the attempt started.
    pub started_at: i64,
    /// When it ended, if it did.
    pub finished_at: Option<i64>,
    /// How it ended (`succeeded`, `retry`, `snooze`, `abort`, `cancelled`, …).
    pub outcome: Option<String>,
    /// Its error, for people (never a secret).
    pub error: Option<String>,
}

const COLUMNS: &str = "job_id, attempt, kind, started_at, finished_at, outcome, error";

impl Store {
    /// Records that attempt `attempt` of `job_id` started (again, if a run of it was recorded
    /// before: the row starts over).
    pub async fn run_started(
        &self,
        job_id: &str,
        attempt: i32,
        kind: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO store_runs (job_id, attempt, kind, started_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id, attempt) DO UPDATE SET started_at = excluded.started_at,
                 finished_at = NULL, outcome = NULL, error = NULL";
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(job_id)
                .bind(attempt)
                .bind(kind)
                .bind(now)
                .execute(pool)
                .await
                .map(drop)?
        });
        Ok(())
    }

    /// Records how attempt `attempt` of `job_id` ended.
    pub async fn run_finished(
        &self,
        job_id: &str,
        attempt: i32,
        outcome: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE store_runs SET finished_at = $3, outcome = $4, error = $5
             WHERE job_id = $1 AND attempt = $2";
        let done = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(job_id)
                .bind(attempt)
                .bind(now)
                .bind(outcome)
                .bind(error)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("run {job_id} #{attempt}")));
        }
        Ok(())
    }

    /// The runs of `job_id`, by attempt.
    pub async fn runs(&self, job_id: &str) -> Result<Vec<Run>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM store_runs WHERE job_id = $1 ORDER BY attempt");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, Run>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(job_id)
                .fetch_all(pool)
                .await?
        }))
    }
}
