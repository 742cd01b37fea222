//! `push` and `push_bulk`: validation, then dedup look-up and insert in the writer's
//! transaction ([`writer`](super::writer)), so concurrent pushes of one dedup key insert once —
//! even in one group, where the second push sees the first's insert, and even from other
//! processes, as the transaction is `BEGIN IMMEDIATE`. Dedup keys live in `queue_dedup`, per
//! queue, and outlive their jobs until their window ends.

use std::collections::BTreeSet;

use sqlx::{Row, SqliteConnection};

use super::SqliteQueue;
use super::writer::{Applied, Done, Op, mismatch};
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{JobId, NewJob, Pushed};
use crate::validate::validate_bulk;

impl SqliteQueue {
    pub(super) async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        // Refused before it reaches the writer: an invalid request costs its group nothing.
        validate_bulk(&jobs)?;
        match self.writer.run(Op::Push(jobs)).await? {
            Done::Pushed(pushed) => Ok(pushed),
            other => Err(mismatch(other)),
        }
    }
}

/// Inserts `jobs` (or finds their live duplicates) on `conn`, inside the writer's transaction;
/// wakes the queues that got a job due now. Jobs without a dedup key go in multi-row `INSERT`s
/// (one statement, so one trip to the connection's thread, for a run of them); a job with one is
/// looked up and inserted on its own. Either way in order, so `seq` keeps pushes FIFO.
pub(super) async fn push_on(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    now: i64,
) -> Result<Applied, QueueError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut due_queues = BTreeSet::new();
    let mut plain: Vec<NewRow> = Vec::new();
    for job in jobs {
        if job.dedup.is_some() {
            insert(conn, &mut plain, now).await?;
            if let Some(existing) = find_live_duplicate(conn, job, now).await? {
                out.push(existing);
                continue;
            }
        }
        let row = NewRow::new(job, now)?;
        let id = row.id.clone();
        if row.state == "available" {
            due_queues.insert(job.queue_name().to_owned());
        }
        plain.push(row);
        out.push(Pushed {
            id: id.clone(),
            duplicate: false,
            existing_fingerprint: None,
        });
        if let Some(dedup) = &job.dedup {
            // The job, then its key: a later push in this transaction must see both.
            insert(conn, &mut plain, now).await?;
            sqlx::query(
                "INSERT INTO queue_dedup (queue, key, job_id, until, fingerprint) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id,
                     until = excluded.until, fingerprint = excluded.fingerprint",
            )
            .bind(job.queue_name())
            .bind(&dedup.key)
            .bind(id.as_str())
            .bind(now.saturating_add(duration_ms(dedup.window)))
            .bind(dedup.fingerprint.as_deref())
            .execute(&mut *conn)
            .await?;
        } else if plain.len() >= ROWS_PER_INSERT {
            insert(conn, &mut plain, now).await?;
        }
    }
    insert(conn, &mut plain, now).await?;
    Ok(Applied {
        done: Done::Pushed(out),
        wake: due_queues,
    })
}

/// Rows per multi-row `INSERT`: 11 values each, far below SQLite's limit on bound values.
pub(super) const ROWS_PER_INSERT: usize = 500;

/// A job as a `queue_jobs` row.
struct NewRow<'a> {
    id: JobId,
    job: &'a NewJob,
    args: String,
    state: &'static str,
    run_at: i64,
}

impl<'a> NewRow<'a> {
    fn new(job: &'a NewJob, now: i64) -> Result<Self, QueueError> {
        let run_at = job.run_at.unwrap_or(now).max(0);
        Ok(Self {
            id: JobId::generate(),
            job,
            args: serde_json::to_string(&job.args)
                .map_err(|e| QueueError::Invalid(e.to_string()))?,
            state: if run_at <= now {
                "available"
            } else {
                "scheduled"
            },
            run_at,
        })
    }
}

/// Inserts `rows` (emptying it), created at `now`, in one statement: all or none of them.
async fn insert(
    conn: &mut SqliteConnection,
    rows: &mut Vec<NewRow<'_>>,
    now: i64,
) -> Result<(), QueueError> {
    if rows.is_empty() {
        return Ok(());
    }
    // One row: `OR FAIL`, so SQLite keeps no statement journal for it (see the `queue_counts`
    // migration). Several: the default `ABORT`, so a failure undoes every row of the statement.
    let mut insert = sqlx::QueryBuilder::new(if rows.len() == 1 {
        "INSERT OR FAIL INTO queue_jobs (id, queue, kind, args, tenant, enqueued_by, state, \
         priority, run_at, max_attempts, created_at) "
    } else {
        "INSERT INTO queue_jobs (id, queue, kind, args, tenant, enqueued_by, state, priority, \
         run_at, max_attempts, created_at) "
    });
    insert.push_values(rows.drain(..), |mut b, row| {
        b.push_bind(row.id.0)
            .push_bind(row.job.queue_name())
            .push_bind(&row.job.kind)
            .push_bind(row.args)
            .push_bind(row.job.tenant.as_deref())
            .push_bind(row.job.enqueued_by.as_deref())
            .push_bind(row.state)
            .push_bind(row.job.priority)
            .push_bind(row.run_at)
            .push_bind(i64::from(row.job.max_attempts))
            .push_bind(now);
    });
    insert.build().execute(&mut *conn).await?;
    Ok(())
}

/// The job holding `job`'s dedup key, if it is unfinished or still inside its window.
async fn find_live_duplicate(
    conn: &mut SqliteConnection,
    job: &NewJob,
    now: i64,
) -> Result<Option<Pushed>, QueueError> {
    let Some(dedup) = &job.dedup else {
        return Ok(None);
    };
    // The key answers while its job is unfinished, or inside its window even once the job
    // finished or was pruned.
    let row = sqlx::query(
        "SELECT d.job_id, d.fingerprint FROM queue_dedup d
         LEFT JOIN queue_jobs j ON j.id = d.job_id
         WHERE d.queue = ? AND d.key = ?
           AND (j.state IN ('scheduled','available','running') OR d.until > ?)",
    )
    .bind(job.queue_name())
    .bind(&dedup.key)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Pushed {
        id: JobId(r.get("job_id")),
        duplicate: true,
        existing_fingerprint: r.get("fingerprint"),
    }))
}
