//! The run history: a row per attempt, written when it starts and completed when it ends, so an
//! attempt that never ended (a killed worker) shows as started and unfinished. Written in
//! batches: a worker records thousands of attempts a second.

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

/// Rows per multi-row upsert: 7 values each, far below either database's limit on bound values.
const ROWS_PER_STATEMENT: usize = 500;

impl Store {
    /// Records runs as they stand now — started, or ended — in one transaction, a multi-row
    /// upsert per 500: a row is replaced by the newer record of the same attempt (a released
    /// attempt that runs again starts over). A batch must not name one attempt twice.
    pub async fn record_runs(&self, runs: &[Run]) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for chunk in runs.chunks(ROWS_PER_STATEMENT) {
                let mut upsert = sqlx::QueryBuilder::new(
                    "INSERT INTO store_runs (job_id, attempt, kind, started_at, finished_at, outcome, error) ",
                );
                upsert.push_values(chunk, |mut row, run| {
                    row.push_bind(run.job_id.as_str())
                        .push_bind(run.attempt)
                        .push_bind(run.kind.as_str())
                        .push_bind(run.started_at)
                        .push_bind(run.finished_at)
                        .push_bind(run.outcome.as_deref())
                        .push_bind(run.error.as_deref());
                });
                upsert.push(
                    " ON CONFLICT (job_id, attempt) DO UPDATE SET kind = excluded.kind,
                     started_at = excluded.started_at, finished_at = excluded.finished_at,
                     outcome = excluded.outcome, error = excluded.error",
                );
                upsert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
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
