//! `push` and `push_bulk`. Jobs without a dedup key go in one `INSERT … SELECT FROM unnest(…)`
//! per run of them (one statement and one round trip for a bulk of any size); the same statement
//! sends one `NOTIFY` per queue that got a job due now. A job with a dedup key takes a
//! transaction-scoped advisory lock on its key first, so concurrent pushes of one key — from any
//! process — insert once. A bulk push is one transaction: all or nothing. [`push_on`] runs on any
//! connection, so a caller's own transaction can carry the push ([`in_tx`](super::in_tx)).

use std::collections::BTreeSet;

use sqlx::{Connection, PgConnection, Row};

use super::PostgresQueue;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{JobId, NewJob, Pushed};
use crate::validate::validate_bulk;

/// The channel every queue's wake-ups go on; the payload is `<schema>/<queue>`.
pub(super) const CHANNEL: &str = "dezky_queue";

impl PostgresQueue {
    pub(super) async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Pushed>, QueueError> {
        validate_bulk(&jobs)?;
        let mut conn = self.pool.acquire().await?;
        let (pushed, due) = if jobs.iter().all(|j| j.dedup.is_none()) {
            // One statement: atomic on its own.
            push_on(&mut conn, self.now(), &jobs).await?
        } else {
            let mut tx = conn.begin().await?;
            let done = push_on(&mut tx, self.now(), &jobs).await?;
            tx.commit().await?;
            done
        };
        self.wake_local(&due);
        Ok(pushed)
    }
}

/// Inserts `jobs` (or finds their live duplicates) on `conn`, in order; answers one [`Pushed`]
/// each and the queues that got a job due now (already `NOTIFY`ed, at the commit of `conn`'s
/// transaction). Jobs with dedup keys need `conn` to be in a transaction, so their key stays
/// locked until it commits.
pub async fn push_on(
    conn: &mut PgConnection,
    now: Option<i64>,
    jobs: &[NewJob],
) -> Result<(Vec<Pushed>, BTreeSet<String>), QueueError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut due = BTreeSet::new();
    let mut plain: Vec<(JobId, &NewJob)> = Vec::new();
    for job in jobs {
        let Some(dedup) = &job.dedup else {
            let id = JobId::generate();
            out.push(Pushed {
                id: id.clone(),
                duplicate: false,
                existing_fingerprint: None,
            });
            plain.push((id, job));
            continue;
        };
        due.extend(insert(conn, now, &mut plain).await?);
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("dezky-dedup\n{}\n{}", job.queue_name(), dedup.key))
            .execute(&mut *conn)
            .await?;
        if let Some(existing) = find_live_duplicate(conn, now, job).await? {
            out.push(existing);
            continue;
        }
        let id = JobId::generate();
        plain.push((id.clone(), job));
        due.extend(insert(conn, now, &mut plain).await?);
        sqlx::query(
            "INSERT INTO queue_dedup (queue, key, job_id, until, fingerprint)
             VALUES ($2, $3, $4, queue_now($1) + $5, $6)
             ON CONFLICT (queue, key) DO UPDATE SET job_id = excluded.job_id,
                 until = excluded.until, fingerprint = excluded.fingerprint",
        )
        .bind(now)
        .bind(job.queue_name())
        .bind(&dedup.key)
        .bind(id.as_str())
        .bind(duration_ms(dedup.window))
        .bind(dedup.fingerprint.as_deref())
        .execute(&mut *conn)
        .await?;
        out.push(Pushed {
            id,
            duplicate: false,
            existing_fingerprint: None,
        });
    }
    due.extend(insert(conn, now, &mut plain).await?);
    Ok((out, due))
}

/// Inserts `rows` (emptying it) in one statement, in order, and `NOTIFY`s each queue that got a
/// job due now; answers those queues.
async fn insert(
    conn: &mut PgConnection,
    now: Option<i64>,
    rows: &mut Vec<(JobId, &NewJob)>,
) -> Result<Vec<String>, QueueError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    let (mut ids, mut queues, mut kinds, mut args) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut tenants, mut enqueuers, mut priorities, mut run_ats, mut attempts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (id, job) in rows.drain(..) {
        ids.push(id.0);
        queues.push(job.queue_name().to_owned());
        kinds.push(job.kind.clone());
        args.push(
            serde_json::to_string(&job.args).map_err(|e| QueueError::Invalid(e.to_string()))?,
        );
        tenants.push(job.tenant.clone());
        enqueuers.push(job.enqueued_by.clone());
        priorities.push(i64::from(job.priority));
        run_ats.push(job.run_at);
        attempts.push(i64::from(job.max_attempts));
    }
    let woken = sqlx::query(
        "WITH ins AS (
             INSERT INTO queue_jobs (id, queue, kind, args, tenant, enqueued_by, state, priority,
                                     run_at, max_attempts, created_at)
             SELECT r.id, r.queue, r.kind, r.args, r.tenant, r.enqueued_by,
                    CASE WHEN COALESCE(r.run_at, queue_now($1)) <= queue_now($1)
                         THEN 'available' ELSE 'scheduled' END,
                    r.priority, GREATEST(COALESCE(r.run_at, queue_now($1)), 0), r.max_attempts,
                    queue_now($1)
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::bigint[], $9::bigint[], $10::bigint[])
                  WITH ORDINALITY AS r(id, queue, kind, args, tenant, enqueued_by, priority,
                                       run_at, max_attempts, ord)
             ORDER BY r.ord
             RETURNING queue, state
         )
         SELECT q.queue, pg_notify($11, current_schema() || '/' || q.queue)::text AS sent
         FROM (SELECT DISTINCT queue FROM ins WHERE state = 'available') q",
    )
    .bind(now)
    .bind(ids)
    .bind(queues)
    .bind(kinds)
    .bind(args)
    .bind(tenants)
    .bind(enqueuers)
    .bind(priorities)
    .bind(run_ats)
    .bind(attempts)
    .bind(CHANNEL)
    .fetch_all(&mut *conn)
    .await?;
    woken
        .iter()
        .map(|r| r.try_get::<String, _>("queue").map_err(QueueError::from))
        .collect()
}

/// The job holding `job`'s dedup key, if it is unfinished or still inside its window.
async fn find_live_duplicate(
    conn: &mut PgConnection,
    now: Option<i64>,
    job: &NewJob,
) -> Result<Option<Pushed>, QueueError> {
    let Some(dedup) = &job.dedup else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT d.job_id, d.fingerprint FROM queue_dedup d
         LEFT JOIN queue_jobs j ON j.id = d.job_id
         WHERE d.queue = $2 AND d.key = $3
           AND (j.state IN ('scheduled','available','running') OR d.until > queue_now($1))",
    )
    .bind(now)
    .bind(job.queue_name())
    .bind(&dedup.key)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Pushed {
            id: JobId(r.try_get("job_id")?),
            duplicate: true,
            existing_fingerprint: r.try_get("fingerprint")?,
        })
    })
    .transpose()
}
