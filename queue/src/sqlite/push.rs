//! `push` and `push_bulk`: validation, dedup look-up and insert in one `BEGIN IMMEDIATE`
//! transaction, so concurrent pushes of one dedup key (even from other processes) insert once.
//! Dedup keys live in `queue_dedup`, per queue, and outlive their jobs until their window ends.

use std::collections::BTreeSet;

use sqlx::{Row, SqliteConnection};

use super::SqliteQueue;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{JobId, NewJob, Pushed};
use crate::validate::validate_bulk;

impl SqliteQueue {
    pub(super) async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        validate_bulk(&jobs)?;
        let now = self.now();
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(jobs.len());
        let mut due_queues = BTreeSet::new();
        for job in &jobs {
            if let Some(existing) = find_live_duplicate(&mut tx, job, now).await? {
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
            sqlx::query(
                "INSERT INTO queue_jobs (id, queue, kind, args, tenant, enqueued_by, state, priority, run_at,
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
            .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
            }
            out.push(Pushed {
                id,
                duplicate: false,
                existing_fingerprint: None,
            });
        }
        tx.commit().await?;
        for queue in due_queues {
            self.hub.notify(&queue);
        }
        Ok(out)
    }
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
