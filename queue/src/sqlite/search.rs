//! `list`: search, newest first, with a fixed budget of rows examined per request.
//!
//! A filter that no index answers (text in args, or a second equality filter) would otherwise
//! walk the whole table when matches are rare. So each request walks at most `search_budget`
//! rows of one index — the window — newest first below the cursor, keeps those that match, and
//! answers a cursor at the window's end when the budget ran out before the page filled: a page
//! may be short, even empty, and still have a cursor. The Redis backend does the same, with its
//! own budget; callers follow `next_cursor` until it is `None`.

use std::fmt::Write as _;

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Row};

use super::SqliteQueue;
use super::row::{JOB_COLUMNS, job_from_row};
use crate::error::QueueError;
use crate::model::{JobFilter, JobPage};

/// The largest page `list` returns.
pub const MAX_PAGE: usize = 500;

/// How one request walks the table: an index whose order within its equality columns is `seq`
/// (SQLite appends the rowid to every index), and the filters that index does not answer.
struct Plan {
    /// `INDEXED BY …`, or `NOT INDEXED` for the table itself (in `seq` order).
    index: &'static str,
    /// Equality filters the index answers: `(column, value)`.
    driving: Vec<(&'static str, String)>,
    /// Equality filters checked row by row.
    residual: Vec<(&'static str, String)>,
    /// Text to find in args, checked row by row.
    text: Option<String>,
}

impl Plan {
    fn of(filter: &JobFilter) -> Self {
        let mut equal: Vec<(&'static str, String)> = [
            ("queue", filter.queue.clone()),
            ("state", filter.state.map(|s| s.as_str().to_owned())),
            ("kind", filter.kind.clone()),
            ("tenant", filter.tenant.clone()),
            ("enqueued_by", filter.enqueued_by.clone()),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect();
        let has = |equal: &[(&str, String)], c: &str| equal.iter().any(|(k, _)| *k == c);
        // The most selective index first: a state (dead, running) is usually a small part of
        // the table; queue and state together are answered by one index.
        let (index, columns): (&'static str, &[&str]) =
            if has(&equal, "queue") && has(&equal, "state") {
                ("INDEXED BY queue_jobs_queue_state", &["queue", "state"])
            } else if has(&equal, "state") {
                ("INDEXED BY queue_jobs_state", &["state"])
            } else if has(&equal, "kind") {
                ("INDEXED BY queue_jobs_kind", &["kind"])
            } else if has(&equal, "tenant") {
                ("INDEXED BY queue_jobs_tenant", &["tenant"])
            } else {
                ("NOT INDEXED", &[])
            };
        let (driving, residual) = equal.drain(..).partition(|(c, _)| columns.contains(c));
        Self {
            index,
            driving,
            residual,
            text: filter.text.clone().filter(|t| !t.is_empty()),
        }
    }

    /// Whether every filter is answered by the index, so that rows examined are rows returned.
    fn exact(&self) -> bool {
        self.residual.is_empty() && self.text.is_none()
    }

    /// `FROM queue_jobs … WHERE <driving> AND seq < ?`, binding the driving values and `below`.
    fn window_sql(
        &self,
        sql: &mut String,
        args: &mut SqliteArguments,
        below: i64,
    ) -> Result<(), QueueError> {
        let _ = write!(sql, " FROM queue_jobs {} WHERE", self.index);
        for (column, value) in &self.driving {
            let _ = write!(sql, " {column} = ? AND");
            args.add(value.clone()).map_err(bind_error)?;
        }
        sql.push_str(" seq < ?");
        args.add(below).map_err(bind_error)?;
        Ok(())
    }
}

impl SqliteQueue {
    pub(super) async fn list_jobs(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let below = match &filter.cursor {
            None => i64::MAX,
            Some(c) => c
                .parse::<i64>()
                .map_err(|_| QueueError::Invalid(format!("bad cursor `{c}`")))?,
        };
        let plan = Plan::of(&filter);
        let budget = i64::try_from(self.config.search_budget.max(limit + 1)).unwrap_or(i64::MAX);
        // One snapshot for the window and the page, so the page is the window's rows.
        let mut tx = self.read.begin().await?;

        // The window: the `budget` newest rows below the cursor; its last `seq` is where the
        // next request goes on when this one finds too few matches.
        let window = if plan.exact() {
            None
        } else {
            let mut sql = String::from("SELECT count(*) AS n, min(seq) AS floor FROM (SELECT seq");
            let mut args = SqliteArguments::default();
            plan.window_sql(&mut sql, &mut args, below)?;
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
        plan.window_sql(&mut sql, &mut args, below)?;
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
        args.add(limit as i64 + 1).map_err(bind_error)?;
        let rows = sqlx::query_with(AssertSqlSafe(sql), args)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut jobs = Vec::with_capacity(limit.min(rows.len()));
        let mut last_seq = None;
        for r in rows.iter().take(limit) {
            last_seq = Some(r.try_get::<i64, _>("seq")?);
            jobs.push(job_from_row(r, false)?);
        }
        let next_cursor = if rows.len() > limit {
            // A full page: the next one starts after its last job.
            last_seq
        } else {
            match window {
                // The budget ran out: every row down to the window's end was examined.
                Some((floor, true)) => Some(floor),
                // The walk reached the oldest job.
                _ => None,
            }
        };
        Ok(JobPage {
            jobs,
            next_cursor: next_cursor.map(|s| s.to_string()),
        })
    }
}

fn bind_error(e: sqlx::error::BoxDynError) -> QueueError {
    QueueError::Storage(e.to_string())
}
