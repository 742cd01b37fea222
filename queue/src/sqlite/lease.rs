//! Leases: `fetch` (rescue, promote and lease in one transaction), `renew`, fenced `complete`,
//! `release` — each run by the writer ([`writer`](super::writer)) in its group's transaction —
//! and the rescue of expired leases.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{Row, SqliteConnection};

use super::writer::{Applied, Done, Op, mismatch};
use super::{SqliteQueue, SqliteQueueConfig};
use crate::backoff::RetryPolicy;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{FetchRequest, Fetched, JobId, JobState, Lease, LeasedJob, Outcome, Renewed};

// SQL fragments as literal macros, so `concat!` builds each statement at compile time (no
// formatting on the fetch and ack paths).

/// Appends one error object to the `errors` column; binds at, class, message.
macro_rules! append_error {
    () => {
        "json_insert(errors, '$[#]', json_object('at', ?, 'attempt', attempt, 'class', ?, 'message', ?))"
    };
}

/// `machine::step` for a snooze: a cancel request ends the job `cancelled`, else it is
/// `scheduled` after the delay; the attempt is refunded. Binds finished_at (now), then run_at.
macro_rules! snoozed {
    () => {
        "state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'scheduled' END,
         finished_at = CASE WHEN cancel_requested = 1 THEN ? END,
         run_at = CASE WHEN cancel_requested = 1 THEN run_at ELSE ? END,
         attempt = attempt - 1, snoozes = snoozes + 1, "
    };
}

/// `machine::step` for an attempt that is spent (a retry, a lease that expired): a cancel
/// request ends the job `cancelled`, the last attempt `dead`, else it goes to `$next`; binds
/// finished_at (now), then the run_at of `$next`.
macro_rules! spent_attempt {
    ($next:literal) => {
        concat!(
            "state = CASE WHEN cancel_requested = 1 THEN 'cancelled'
                          WHEN attempt >= max_attempts THEN 'dead' ELSE '", $next, "' END,
             finished_at = CASE WHEN cancel_requested = 1 OR attempt >= max_attempts THEN ? END,
             run_at = CASE WHEN cancel_requested = 1 OR attempt >= max_attempts THEN run_at ELSE ? END, "
        )
    };
}

/// Forgets the lease.
macro_rules! clear_lease {
    () => {
        "lease_token = NULL, lease_expires_at = NULL, worker = NULL"
    };
}

/// Only the current lease may complete the job (and only when `$also` holds); binds id, token.
macro_rules! fence {
    () => {
        fence!("")
    };
    ($also:literal) => {
        concat!(
            " WHERE id = ? AND lease_token = ? AND state = 'running'",
            $also,
            " RETURNING state"
        )
    };
}

impl SqliteQueue {
    pub(super) async fn fetch_leases(&self, req: FetchRequest) -> Result<Fetched, QueueError> {
        match self.writer.run(Op::Fetch(req)).await? {
            Done::Fetched(fetched) => Ok(fetched),
            other => Err(mismatch(other)),
        }
    }

    pub(super) async fn renew_leases(
        &self,
        leases: &[Lease],
        ttl: Duration,
    ) -> Result<Renewed, QueueError> {
        if leases.is_empty() {
            return Ok(Renewed::default());
        }
        match self.writer.run(Op::Renew(leases.to_vec(), ttl)).await? {
            Done::Renewed(renewed) => Ok(renewed),
            other => Err(mismatch(other)),
        }
    }

    pub(super) async fn complete_lease(
        &self,
        lease: &Lease,
        outcome: Outcome,
    ) -> Result<JobState, QueueError> {
        let mut answers = self.complete_leases(&[(lease.clone(), outcome)]).await?;
        answers
            .pop()
            .ok_or_else(|| QueueError::Storage("complete answered nothing".into()))?
    }

    /// Many completions in one request, so in one transaction (with whatever else shares the
    /// writer's group).
    pub(super) async fn complete_leases(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        match self.writer.run(Op::Complete(items.to_vec())).await? {
            Done::Completed(answers) => Ok(answers),
            other => Err(mismatch(other)),
        }
    }

    pub(super) async fn release_leases(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        match self.writer.run(Op::Release(leases.to_vec())).await? {
            Done::Released(n) => Ok(n),
            other => Err(mismatch(other)),
        }
    }
}

/// Rescues and promotes in `req.queue`, then leases its next due jobs; on the writer's
/// transaction.
pub(super) async fn fetch_on(
    conn: &mut SqliteConnection,
    config: &SqliteQueueConfig,
    req: &FetchRequest,
    now: i64,
) -> Result<Applied, QueueError> {
    let rescued = rescue(conn, Some(&req.queue), now, config.rescue_limit).await?;
    // `OR FAIL` on the fetch and ack paths: SQLite then keeps no statement journal for the
    // count triggers' writes (see the `queue_counts` migration). These statements cannot break a
    // constraint (they write literal, valid states); were one to, the request fails and its
    // savepoint, or its transaction, undoes what the statement had written.
    let promoted = sqlx::query(
        "UPDATE OR FAIL queue_jobs SET state = 'available'
         WHERE seq IN (SELECT seq FROM queue_jobs
                       WHERE queue = ? AND state = 'scheduled' AND run_at <= ?
                       ORDER BY run_at LIMIT ?)",
    )
    .bind(&req.queue)
    .bind(now)
    .bind(limit_i64(config.promote_limit))
    .execute(&mut *conn)
    .await?
    .rows_affected() as usize;
    let rows = sqlx::query(
        "UPDATE OR FAIL queue_jobs
         SET state = 'running', attempt = attempt + 1, lease_token = random(),
             lease_expires_at = ?, worker = ?
         WHERE seq IN (SELECT seq FROM queue_jobs
                       WHERE queue = ? AND state = 'available'
                       ORDER BY priority DESC, run_at, seq LIMIT ?)
           AND NOT EXISTS (SELECT 1 FROM queue_queues WHERE name = ? AND paused = 1)
         RETURNING seq, id, kind, args, attempt, max_attempts, tenant, priority, run_at, lease_token",
    )
    .bind(now.saturating_add(duration_ms(req.lease_ttl)))
    .bind(&req.worker)
    .bind(&req.queue)
    .bind(limit_i64(req.limit))
    .bind(&req.queue)
    .fetch_all(&mut *conn)
    .await?;

    let mut keyed = Vec::with_capacity(rows.len());
    for r in rows {
        let args: String = r.try_get("args")?;
        let attempt = r.try_get::<i64, _>("attempt")? as u32;
        let job = LeasedJob {
            lease: Lease {
                id: JobId(r.try_get("id")?),
                queue: req.queue.clone(),
                token: r.try_get("lease_token")?,
                attempt,
            },
            kind: r.try_get("kind")?,
            queue: req.queue.clone(),
            args: serde_json::from_str(&args).unwrap_or(serde_json::Value::Null),
            max_attempts: r.try_get::<i64, _>("max_attempts")? as u32,
            tenant: r.try_get("tenant")?,
            priority: r.try_get::<i64, _>("priority")? as i32,
            run_at: r.try_get("run_at")?,
        };
        let key = (
            -(job.priority as i64),
            r.try_get::<i64, _>("run_at")?,
            r.try_get::<i64, _>("seq")?,
        );
        keyed.push((key, job));
    }
    // RETURNING has no order: restore the one the contract promises.
    keyed.sort_by_key(|(k, _)| *k);
    Ok(Applied::quiet(Done::Fetched(Fetched {
        jobs: keyed.into_iter().map(|(_, j)| j).collect(),
        promoted,
        rescued,
    })))
}

/// Extends the leases still held; reports the lost and the ones asked to cancel.
pub(super) async fn renew_on(
    conn: &mut SqliteConnection,
    leases: &[Lease],
    ttl: Duration,
    now: i64,
) -> Result<Applied, QueueError> {
    let rows = sqlx::query(
        "UPDATE queue_jobs SET lease_expires_at = ?
         WHERE state = 'running' AND lease_expires_at > ?
           AND (id, lease_token) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                                     FROM json_each(?))
         RETURNING id, lease_token, cancel_requested",
    )
    .bind(now.saturating_add(duration_ms(ttl)))
    .bind(now)
    .bind(lease_pairs(leases))
    .fetch_all(conn)
    .await?;
    let mut held: HashMap<(String, i64), bool> = HashMap::with_capacity(rows.len());
    for r in rows {
        held.insert(
            (r.try_get("id")?, r.try_get("lease_token")?),
            r.try_get::<i64, _>("cancel_requested")? != 0,
        );
    }
    let mut out = Renewed::default();
    for lease in leases {
        match held.get(&(lease.id.0.clone(), lease.token)) {
            None => out.lost.push(lease.clone()),
            Some(true) => out.cancel_requested.push(lease.clone()),
            Some(false) => {}
        }
    }
    Ok(Applied::quiet(Done::Renewed(out)))
}

/// Ends each attempt, fenced on its own; fails as a whole only when the store does. Successes
/// (the commonest outcome, and a batch of acks is mostly them) go in one statement when the
/// batch names each job once; the rest one by one.
pub(super) async fn complete_all_on(
    conn: &mut SqliteConnection,
    config: &SqliteQueueConfig,
    items: &[(Lease, Outcome)],
    now: i64,
) -> Result<Applied, QueueError> {
    let mut out: Vec<Option<Result<JobState, QueueError>>> =
        std::iter::repeat_with(|| None).take(items.len()).collect();
    let distinct = items
        .iter()
        .map(|(l, _)| l.id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
        == items.len();
    if distinct && items.len() > 1 {
        succeed_all(conn, items, &mut out, now).await?;
    }
    for ((lease, outcome), slot) in items.iter().zip(out.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        match complete_on(conn, &config.retry, lease, outcome, now).await {
            Err(QueueError::Storage(e)) => return Err(QueueError::Storage(e)),
            other => *slot = Some(other),
        }
    }
    Ok(Applied::quiet(Done::Completed(
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(QueueError::Storage("an ack was skipped".into()))))
            .collect(),
    )))
}

/// Completes every `Succeeded` item whose lease still holds its job in one `UPDATE … FROM`,
/// fenced row by row as [`complete_on`] is; fills their answers. Items it did not complete are
/// left for [`complete_on`], which finds out why.
async fn succeed_all(
    conn: &mut SqliteConnection,
    items: &[(Lease, Outcome)],
    out: &mut [Option<Result<JobState, QueueError>>],
    now: i64,
) -> Result<(), QueueError> {
    let mut successes = Vec::new();
    for (lease, outcome) in items {
        if let Outcome::Succeeded(result) = outcome {
            let result =
                serde_json::to_string(result).map_err(|e| QueueError::Invalid(e.to_string()))?;
            successes.push(serde_json::json!([lease.id.as_str(), lease.token, result]));
        }
    }
    if successes.len() < 2 {
        return Ok(());
    }
    let done: std::collections::HashSet<String> = sqlx::query_scalar(concat!(
        "UPDATE queue_jobs SET state = 'succeeded', result = v.result, finished_at = ?, ",
        clear_lease!(),
        " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS token,
                       json_extract(value, '$[2]') AS result FROM json_each(?)) AS v
          WHERE queue_jobs.id = v.id AND queue_jobs.lease_token = v.token
            AND queue_jobs.state = 'running'
          RETURNING queue_jobs.id"
    ))
    .bind(now)
    .bind(serde_json::Value::Array(successes).to_string())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for ((lease, outcome), slot) in items.iter().zip(out.iter_mut()) {
        if matches!(outcome, Outcome::Succeeded(_)) && done.contains(lease.id.as_str()) {
            *slot = Some(Ok(JobState::Succeeded));
        }
    }
    Ok(())
}

/// Ends one attempt on `conn`, fenced by its lease token. `OR FAIL`, as on the fetch path: one
/// row, so a failure leaves nothing half written.
async fn complete_on(
    conn: &mut SqliteConnection,
    retry: &RetryPolicy,
    lease: &Lease,
    outcome: &Outcome,
    now: i64,
) -> Result<JobState, QueueError> {
    let query = match outcome {
        Outcome::Succeeded(result) => {
            let result =
                serde_json::to_string(result).map_err(|e| QueueError::Invalid(e.to_string()))?;
            sqlx::query_scalar::<_, String>(concat!(
                "UPDATE OR FAIL queue_jobs SET state = 'succeeded', result = ?, finished_at = ?, ",
                clear_lease!(),
                fence!()
            ))
            .bind(result)
            .bind(now)
        }
        Outcome::Retry { error, retry_after } => {
            let delay = retry_after.unwrap_or_else(|| retry.jittered(lease.attempt));
            let run_at = now.saturating_add(duration_ms(delay));
            sqlx::query_scalar::<_, String>(concat!(
                "UPDATE OR FAIL queue_jobs SET ",
                spent_attempt!("scheduled"),
                "errors = ",
                append_error!(),
                ", ",
                clear_lease!(),
                fence!()
            ))
            .bind(now)
            .bind(run_at)
            .bind(now)
            .bind(error.class.clone())
            .bind(error.message.clone())
        }
        Outcome::Snooze(delay) => sqlx::query_scalar::<_, String>(concat!(
            "UPDATE OR FAIL queue_jobs SET ",
            snoozed!(),
            clear_lease!(),
            fence!()
        ))
        .bind(now)
        .bind(now.saturating_add(duration_ms(*delay))),
        // Recorded before the attempt is refunded: the entry names the attempt it interrupted.
        Outcome::Blocked { delay, reason } => sqlx::query_scalar::<_, String>(concat!(
            "UPDATE OR FAIL queue_jobs SET errors = ",
            append_error!(),
            ", ",
            snoozed!(),
            clear_lease!(),
            fence!()
        ))
        .bind(now)
        .bind(reason.class.clone())
        .bind(reason.message.clone())
        .bind(now)
        .bind(now.saturating_add(duration_ms(*delay))),
        Outcome::Abort(error) => sqlx::query_scalar::<_, String>(concat!(
            "UPDATE OR FAIL queue_jobs SET state = 'dead', finished_at = ?, errors = ",
            append_error!(),
            ", ",
            clear_lease!(),
            fence!()
        ))
        .bind(now)
        .bind(now)
        .bind(error.class.clone())
        .bind(error.message.clone()),
        // Only a real cancel request ends a job cancelled (machine::step).
        Outcome::Cancelled => sqlx::query_scalar::<_, String>(concat!(
            "UPDATE OR FAIL queue_jobs SET state = 'cancelled', finished_at = ?, ",
            clear_lease!(),
            fence!(" AND cancel_requested = 1")
        ))
        .bind(now),
    };
    let state = query
        .bind(lease.id.as_str())
        .bind(lease.token)
        .fetch_optional(&mut *conn)
        .await?;
    match state {
        Some(state) => state.parse().map_err(QueueError::Storage),
        None => Err(why_not_completed(conn, lease).await),
    }
}

/// Why a completion changed nothing: the lease is gone, or (for `Cancelled` without a
/// request) the state machine refuses it.
async fn why_not_completed(conn: &mut SqliteConnection, lease: &Lease) -> QueueError {
    let held = sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM queue_jobs WHERE id = ? AND lease_token = ? AND state = 'running'",
    )
    .bind(lease.id.as_str())
    .bind(lease.token)
    .fetch_optional(conn)
    .await;
    match held {
        Ok(Some(_)) => QueueError::InvalidState {
            id: lease.id.0.clone(),
            state: JobState::Running.to_string(),
            reason: crate::machine::NO_CANCEL_REQUEST,
        },
        Ok(None) => QueueError::LeaseLost(lease.id.0.clone()),
        Err(e) => e.into(),
    }
}

/// Gives leases back (attempt refunded); wakes their queues.
pub(super) async fn release_on(
    conn: &mut SqliteConnection,
    leases: &[Lease],
    now: i64,
) -> Result<Applied, QueueError> {
    let queues: Vec<String> = sqlx::query_scalar(
        "UPDATE queue_jobs
         SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'available' END,
             finished_at = CASE WHEN cancel_requested = 1 THEN ? END,
             attempt = attempt - 1, lease_token = NULL, lease_expires_at = NULL, worker = NULL
         WHERE state = 'running'
           AND (id, lease_token) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                                     FROM json_each(?))
         RETURNING queue",
    )
    .bind(now)
    .bind(lease_pairs(leases))
    .fetch_all(conn)
    .await?;
    let released = queues.len();
    Ok(Applied {
        done: Done::Released(released),
        wake: queues.into_iter().collect(),
    })
}

/// Returns expired leases (of one queue, or all) to `available`, or to `dead` when that was the
/// last attempt, or to `cancelled` when cancellation was requested; at most `limit`.
pub(super) async fn rescue(
    conn: &mut SqliteConnection,
    queue: Option<&str>,
    now: i64,
    limit: usize,
) -> Result<usize, QueueError> {
    let done = sqlx::query(concat!(
        "UPDATE queue_jobs SET ",
        spent_attempt!("available"),
        "errors = ",
        append_error!(),
        ", ",
        clear_lease!(),
        "
         WHERE seq IN (SELECT seq FROM queue_jobs
                       WHERE state = 'running' AND lease_expires_at <= ? AND (? IS NULL OR queue = ?)
                       ORDER BY lease_expires_at LIMIT ?)"
    ))
    .bind(now)
    .bind(now)
    .bind(now)
    .bind("lease_expired")
    .bind("the worker stopped renewing its lease (crashed or lost its connection)")
    .bind(now)
    .bind(queue)
    .bind(queue)
    .bind(limit_i64(limit))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() as usize)
}

fn lease_pairs(leases: &[Lease]) -> String {
    serde_json::Value::Array(
        leases
            .iter()
            .map(|l| serde_json::json!([l.id.as_str(), l.token]))
            .collect(),
    )
    .to_string()
}

fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
