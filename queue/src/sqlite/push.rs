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
/// wakes the queues that got a job due now.
pub(super) async fn push_on(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    now: i64,
) -> Result<Applied, QueueError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut due_queues = BTreeSet::new();
    for job in jobs {
        if let Some(existing) = find_live_duplicate(conn, job, now).await? {
            out.push(existing);
            continue;
        }
        let id = JobId::generate();
        let run_at = job.run_at.unwrap_or(now).max(0);
        let state = if run_at <= now {
            "available"
        } else {
            "scheduled"
        };
        if state == "available" {
            due_queues.insert(job.queue_name().to_owned());
        }
        let args =
            serde_json::to_string(&job.args).map_err(|e| QueueError::Invalid(e.to_string()))?;
        // `OR FAIL`: one row, so a failure leaves nothing of it; and SQLite keeps no statement
        // journal for the count triggers' writes (see the `queue_counts` migration).
        sqlx::query(
            "INSERT OR FAIL INTO queue_jobs (id, queue, kind, args, tenant, enqueued_by, state, priority, run_at,
                max_attempts, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.as_str())
        .bind(job.queue_name())
        .bind(&job.kind)
        .bind(args)
        .bind(job.tenant.as_deref())
        .bind(job.enqueued_by.as_deref())
        .bind(state)
        .bind(job.priority)
        .bind(run_at)
        .bind(i64::from(job.max_attempts))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if let Some(dedup) = &job.dedup {
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
        }
        out.push(Pushed {
            id,
            duplicate: false,
            existing_fingerprint: None,
        });
    }
    Ok(Applied {
        done: Done::Pushed(out),
        wake: due_queues,
    })
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
