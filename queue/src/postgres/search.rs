//! `list`: search, newest first. Filters an index answers (queue and state, state, kind, tenant)
//! drive a walk of that index in `seq` order. Text in args is answered by the trigram index where
//! there is one (PostgreSQL then picks between it and the walk by how common the text is); where
//! there is not, or when another filter no index answers is left, each request examines at most
//! `search_budget` rows — the window — and answers a cursor at its end, as on SQLite: a page may
//! be short, even empty, and still have a cursor.

use sqlx::{Postgres, QueryBuilder, Row};

use super::PostgresQueue;
use super::row::{JOB_COLUMNS, job_from_row};
use crate::error::QueueError;
use crate::model::{JobFilter, JobPage};

/// The largest page `list` returns.
pub const MAX_PAGE: usize = 500;

/// How one request walks the table.
struct Plan {
    /// Equality filters an index answers: `(column, value)`.
    driving: Vec<(&'static str, String)>,
    /// Equality filters checked row by row.
    residual: Vec<(&'static str, String)>,
    /// Text to find in args, as a `LIKE` pattern.
    text: Option<String>,
    /// Whether the trigram index answers the text.
    indexed_text: bool,
}

impl Plan {
    fn of(filter: &JobFilter, trigram: bool) -> Self {
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
        let columns: &[&str] = if has(&equal, "queue") && has(&equal, "state") {
            &["queue", "state"]
        } else if has(&equal, "state") {
            &["state"]
        } else if has(&equal, "kind") {
            &["kind"]
        } else if has(&equal, "tenant") {
            &["tenant"]
        } else {
            &[]
        };
        let (driving, residual) = equal.drain(..).partition(|(c, _)| columns.contains(c));
        let text = filter.text.as_deref().filter(|t| !t.is_empty());
        Self {
            driving,
            residual,
            // Trigrams need three characters to narrow anything down.
            indexed_text: trigram && text.is_some_and(|t| t.chars().count() >= 3),
            text: text.map(like_pattern),
        }
    }

    /// Whether every filter is answered by an index, so no window is needed.
    fn exact(&self) -> bool {
        self.residual.is_empty() && (self.text.is_none() || self.indexed_text)
    }

    /// `FROM queue_jobs WHERE <driving> AND seq < below`.
    fn window(&self, sql: &mut QueryBuilder<Postgres>, below: i64) {
        sql.push(" FROM queue_jobs WHERE");
        for (column, value) in &self.driving {
            sql.push(format_args!(" {column} = "));
            sql.push_bind(value.clone());
            sql.push(" AND");
        }
        sql.push(" seq < ");
        sql.push_bind(below);
    }
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
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let below = match &filter.cursor {
            None => i64::MAX,
            Some(c) => c
                .parse::<i64>()
                .map_err(|_| QueueError::Invalid(format!("bad cursor `{c}`")))?,
        };
        let plan = Plan::of(&filter, self.trigram);
        let budget = i64::try_from(self.config.search_budget.max(limit + 1)).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        // One snapshot for the window and the page.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;

        let window = if plan.exact() {
            None
        } else {
            let mut sql =
                QueryBuilder::new("SELECT count(*) AS n, min(seq) AS floor FROM (SELECT seq");
            plan.window(&mut sql, below);
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
        plan.window(&mut sql, below);
        if let Some((floor, _)) = window {
            sql.push(" AND seq >= ");
            sql.push_bind(floor);
        }
        for (column, value) in &plan.residual {
            sql.push(format_args!(" AND {column} = "));
            sql.push_bind(value.clone());
        }
        if let Some(pattern) = &plan.text {
            sql.push(" AND args LIKE ");
            sql.push_bind(pattern.clone());
        }
        sql.push(" ORDER BY seq DESC LIMIT ");
        sql.push_bind(limit as i64 + 1);
        let rows = sql.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;

        let mut jobs = Vec::with_capacity(limit.min(rows.len()));
        let mut last_seq = None;
        for r in rows.iter().take(limit) {
            last_seq = Some(r.try_get::<i64, _>("seq")?);
            jobs.push(job_from_row(r, false)?);
        }
        let next_cursor = if rows.len() > limit {
            last_seq
        } else {
            match window {
                Some((floor, true)) => Some(floor),
                _ => None,
            }
        };
        Ok(JobPage {
            jobs,
            next_cursor: next_cursor.map(|s| s.to_string()),
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
