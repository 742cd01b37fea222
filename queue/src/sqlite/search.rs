//! `list`: search, newest first, with a fixed budget of rows examined per request.
//!
//! A filter that no index answers (text in args, or a second equality filter) would otherwise
//! walk the whole table when matches are rare. So each request walks at most `search_budget`
//! rows of one index — the window — newest first below the cursor, keeps those that match, and
//! answers a cursor at the window's end when the budget ran out before the page filled: a page
//! may be short, even empty, and still have a cursor. The Redis backend does the same, with its
//! own budget; callers follow `next_cursor` until it is `None`. Which index and where to go on is
//! the shared [`Plan`](crate::search_plan::Plan).

use std::fmt::Write as _;

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Row};

use super::SqliteQueue;
use super::row::{JOB_COLUMNS, job_from_row};
use crate::error::QueueError;
use crate::model::{JobFilter, JobPage};
use crate::search_plan::{Index, Plan};

/// `INDEXED BY …` for the plan's index (SQLite appends the rowid, `seq`, to every index), or
/// `NOT INDEXED` for the table itself.
fn indexed_by(index: Index) -> &'static str {
    match index {
        Index::QueueState => "INDEXED BY queue_jobs_queue_state",
        Index::State => "INDEXED BY queue_jobs_state",
        Index::Kind => "INDEXED BY queue_jobs_kind",
        Index::Tenant => "INDEXED BY queue_jobs_tenant",
        Index::Table => "NOT INDEXED",
    }
}

/// Whether every filter is answered by the index, so that rows examined are rows returned.
fn exact(plan: &Plan) -> bool {
    plan.residual.is_empty() && plan.text.is_none()
}

/// `FROM queue_jobs … WHERE <driving> AND seq < ?`, binding the driving values and the cursor.
fn window_sql(plan: &Plan, sql: &mut String, args: &mut SqliteArguments) -> Result<(), QueueError> {
    let _ = write!(sql, " FROM queue_jobs {} WHERE", indexed_by(plan.index));
    for (column, value) in &plan.driving {
        let _ = write!(sql, " {column} = ? AND");
        args.add(value.clone()).map_err(bind_error)?;
    }
    sql.push_str(" seq < ?");
    args.add(plan.below).map_err(bind_error)?;
    Ok(())
}

impl SqliteQueue {
    pub(super) async fn list_jobs(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        let plan = Plan::of(&filter)?;
        let budget = plan.budget(self.config.search_budget);
        // One snapshot for the window and the page, so the page is the window's rows.
        let mut tx = self.read.begin().await?;

        // The window: the `budget` newest rows below the cursor; its last `seq` is where the
        // next request goes on when this one finds too few matches.
        let window = if exact(&plan) {
            None
        } else {
            let mut sql = String::from("SELECT count(*) AS n, min(seq) AS floor FROM (SELECT seq");
            let mut args = SqliteArguments::default();
            window_sql(&plan, &mut sql, &mut args)?;
            sql.push_str(" ORDER BY seq DESC LIMIT ?)");
            args.add(budget).map_err(bind_error)?;
            let row = sqlx::query_with(AssertSqlSafe(sql), args)
                .fetch_one(&mut *tx)
                .await?;
            let (n, floor): (i64, Option<i64>) = (row.try_get("n")?, row.try_get("floor")?);
            match floor {
                None => {
                    return Ok(JobPage {
                        jobs: Vec::new(),
                        next_cursor: None,
                    });
                }
                Some(floor) => Some((floor, n >= budget)),
            }
        };

        let mut sql = format!("SELECT {JOB_COLUMNS}");
        let mut args = SqliteArguments::default();
        window_sql(&plan, &mut sql, &mut args)?;
        if let Some((floor, _)) = window {
            sql.push_str(" AND seq >= ?");
            args.add(floor).map_err(bind_error)?;
        }
        for (column, value) in &plan.residual {
            let _ = write!(sql, " AND {column} = ?");
            args.add(value.clone()).map_err(bind_error)?;
        }
        if let Some(text) = &plan.text {
            sql.push_str(" AND instr(args, ?) > 0");
            args.add(text.clone()).map_err(bind_error)?;
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        args.add(plan.limit as i64 + 1).map_err(bind_error)?;
        let rows = sqlx::query_with(AssertSqlSafe(sql), args)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut jobs = Vec::with_capacity(plan.limit.min(rows.len()));
        let mut last_seq = None;
        for r in rows.iter().take(plan.limit) {
            last_seq = Some(r.try_get::<i64, _>("seq")?);
            jobs.push(job_from_row(r, false)?);
        }
        Ok(JobPage {
            jobs,
            next_cursor: plan.next_cursor(rows.len(), last_seq, window),
        })
    }
}

fn bind_error(e: sqlx::error::BoxDynError) -> QueueError {
    QueueError::Storage(e.to_string())
}
