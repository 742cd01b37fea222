//! Schedules: each one's kind, arguments and cron expression as the schedulers were configured,
//! and what its ticks did — the newest tick dealt with, the next, the newest job and outcome.
//! Ticks only move forward: a replica that deals with an older tick than the row holds changes
//! nothing, so any number of schedulers may write the same row.

use serde_json::Value;
use sqlx::types::Json;

use crate::{Store, StoreError, on_pool};

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScheduleRow {
    /// Its name (`seed`, `reconcile`).
    pub name: String,
    /// The kind its ticks enqueue.
    pub kind: String,
    /// Their arguments.
    pub args: Json<Value>,
    /// The cron expression, as configured.
    pub expression: String,
    /// The newest tick dealt with (ms since the epoch).
    pub last_tick: Option<i64>,
    /// The tick after it.
    pub next_tick: Option<i64>,
    /// The newest job a tick or a run-now enqueued.
    pub last_job: Option<String>,
    /// What the newest tick did: `enqueued`, `skipped` (its previous job was unfinished) or
    /// `missed` (no scheduler ran at the time, and the policy skips missed ticks).
    pub last_outcome: Option<String>,
    /// When the row last changed.
    pub updated_at: i64,
}

const COLUMNS: &str =
    "name, kind, args, expression, last_tick, next_tick, last_job, last_outcome, updated_at";

impl Store {
    /// Stores schedule `name`'s configuration — creating the row, or replacing kind, arguments,
    /// expression and next tick and keeping what its ticks did.
    pub async fn put_schedule(
        &self,
        name: &str,
        kind: &str,
        args: &Value,
        expression: &str,
        next_tick: Option<i64>,
        now: i64,
    ) -> Result<ScheduleRow, StoreError> {
        let sql = format!(
            "INSERT INTO store_schedules (name, kind, args, expression, next_tick, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, args = excluded.args,
                 expression = excluded.expression, next_tick = excluded.next_tick,
                 updated_at = excluded.updated_at
             RETURNING {COLUMNS}"
        );
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(name)
                .bind(kind)
                .bind(Json(args))
                .bind(expression)
                .bind(next_tick)
                .bind(now)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Schedule `name`, if stored.
    pub async fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM store_schedules WHERE name = $1");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM store_schedules ORDER BY name");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(pool)
                .await?
        }))
    }

    /// Records that tick `tick` of schedule `name` was dealt with: its outcome, the job it
    /// enqueued (none: the newest job stays), and the tick after it. Only a tick newer than the
    /// stored one is recorded — or an `enqueued` over a `skipped` of the same tick: a replica
    /// that found the previous job unfinished races one that found it finished and pushed, and
    /// the job that exists wins. Answers whether this record was taken.
    pub async fn record_tick(
        &self,
        name: &str,
        tick: i64,
        next_tick: Option<i64>,
        job: Option<&str>,
        outcome: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE store_schedules SET last_tick = $2, next_tick = $3,
                       last_job = COALESCE($4, last_job), last_outcome = $5, updated_at = $6
                   WHERE name = $1 AND (last_tick IS NULL OR last_tick < $2
                       OR (last_tick = $2 AND last_outcome = 'skipped' AND $5 = 'enqueued'))";
        let done = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(tick)
                .bind(next_tick)
                .bind(job)
                .bind(outcome)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Forgets schedule `name` (it was turned `off`); answers whether it was stored.
    pub async fn delete_schedule(&self, name: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM store_schedules WHERE name = $1";
        let done = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Records `job` as schedule `name`'s newest job (a run-now), its ticks untouched.
    pub async fn record_run_now(
        &self,
        name: &str,
        job: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE store_schedules SET last_job = $2, updated_at = $3 WHERE name = $1";
        let done = on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(job)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
