//! `list`: search, newest first. Filters an index answers (queue and state, state, kind, tenant)
//! drive a walk of that index in `seq` order — the shared [`Plan`](crate::search_plan::Plan).
//! Text in args is answered by the trigram index where there is one (PostgreSQL then picks
//! between it and the walk by how common the text is); where there is not, or when another
//! filter no index answers is left, each request examines at most `search_budget` rows — the
//! window — and answers a cursor at its end, as on SQLite: a page may be short, even empty, and
//! still have a cursor.

use sqlx::{Postgres, QueryBuilder, Row};

use super::PostgresQueue;
use super::row::{JOB_COLUMNS, job_from_row};
use crate::error::QueueError;
use crate::model::{JobFilter, JobPage};
use crate::search_plan::Plan;

/// Whether every filter is answered by an index, so that no window is needed: text needs the
/// trigram index, and three characters to narrow anything down.
fn exact(plan: &Plan, trigram: bool) -> bool {
    plan.residual.is_empty()
        && plan
            .text
            .as_ref()
            .is_none_or(|t| trigram && t.chars().count() >= 3)
}

/// `FROM queue_jobs WHERE <driving> AND seq < <cursor>`.
fn window(plan: &Plan, sql: &mut QueryBuilder<Postgres>) {
    sql.push(" FROM queue_jobs WHERE");
    for (column, value) in &plan.driving {
        sql.push(format_args!(" {column} = "));
        sql.push_bind(value.clone());
        sql.push(" AND");
    }
    sql.push(" seq < ");
    sql.push_bind(plan.below);
}

/// `%text%`, with `LIKE`'s wildcards in `text` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl PostgresQueue {
    pub(super) async fn list_jobs(&self, filter: JobFilter) -> Result<JobPage, QueueError> {
        let plan = Plan::of(&filter)?;
        let budget = plan.budget(self.config.search_budget);
        let mut tx = self.pool.begin().await?;
        // One snapshot for the window and the page.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;

        let window_end = if exact(&plan, self.trigram) {
            None
        } else {
            let mut sql =
                QueryBuilder::new("SELECT count(*) AS n, min(seq) AS floor FROM (SELECT seq");
            window(&plan, &mut sql);
            sql.push(" ORDER BY seq DESC LIMIT ");
            sql.push_bind(budget);
            sql.push(") w");
            let row = sql.build().fetch_one(&mut *tx).await?;
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

        let mut sql = QueryBuilder::new(format!("SELECT {JOB_COLUMNS}"));
        window(&plan, &mut sql);
        if let Some((floor, _)) = window_end {
            sql.push(" AND seq >= ");
            sql.push_bind(floor);
        }
        for (column, value) in &plan.residual {
            sql.push(format_args!(" AND {column} = "));
            sql.push_bind(value.clone());
        }
        if let Some(text) = &plan.text {
            sql.push(" AND args LIKE ");
            sql.push_bind(like_pattern(text));
        }
        sql.push(" ORDER BY seq DESC LIMIT ");
        sql.push_bind(plan.limit as i64 + 1);
        let rows = sql.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;

        let mut jobs = Vec::with_capacity(plan.limit.min(rows.len()));
        let mut last_seq = None;
        for r in rows.iter().take(plan.limit) {
            last_seq = Some(r.try_get::<i64, _>("seq")?);
            jobs.push(job_from_row(r, false)?);
        }
        Ok(JobPage {
            jobs,
            next_cursor: plan.next_cursor(rows.len(), last_seq, window_end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_the_text_are_literal() {
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }
}
