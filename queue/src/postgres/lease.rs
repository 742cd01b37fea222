//! Leases: `fetch` (rescue and promotion, each bounded, then a batch leased with `FOR UPDATE
//! SKIP LOCKED`), `renew`, fenced `complete` (one statement per attempt; a batch of successes in
//! one statement, the batch in one transaction), `release`, and the rescue of expired leases.
//! Each statement binds the time override as `$1` (`queue_now($1)`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool, Row};

use super::{PostgresQueue, limit_i64};
use crate::backoff::RetryPolicy;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{FetchRequest, Fetched, JobId, JobState, Lease, LeasedJob, Outcome, Renewed};

// SQL fragments as literal macros, so `concat!` builds each statement at compile time.

/// Appends one error object to `errors`; binds class as `$4`, message as `$5`.
macro_rules! append_error {
    () => {
        "errors = errors || jsonb_build_array(jsonb_build_object('at', queue_now($1),
             'attempt', attempt, 'class', $4::text, 'message', $5::text)), "
    };
}

/// `machine::step` for a snooze: a cancel request ends the job `cancelled`, else it is
/// `scheduled` after the delay (the parameter `$delay`, ms); the attempt is refunded.
macro_rules! snoozed {
    ($delay:literal) => {
        concat!(
            "state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'scheduled' END,
             finished_at = CASE WHEN cancel_requested THEN queue_now($1) END,
             run_at = CASE WHEN cancel_requested THEN run_at ELSE queue_now($1) + ",
            $delay,
            " END,
             attempt = attempt - 1, snoozes = snoozes + 1, "
        )
    };
}

/// `machine::step` for an attempt that is spent: a cancel request ends the job `cancelled`, the
/// last attempt `dead`, else it goes to `$next` at `queue_now($1) + $6`.
macro_rules! spent_attempt {
    ($next:literal) => {
        concat!(
            "state = CASE WHEN cancel_requested THEN 'cancelled'
                          WHEN attempt >= max_attempts THEN 'dead' ELSE '", $next, "' END,
             finished_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN queue_now($1) END,
             run_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN run_at
                           ELSE queue_now($1) + $6 END, "
        )
    };
}

/// Forgets the lease.
macro_rules! clear_lease {
    () => {
        "lease_token = NULL, lease_expires_at = NULL, worker = NULL"
    };
}

/// Only the current lease may complete the job; binds id as `$2`, token as `$3`.
macro_rules! fence {
    ($also:literal) => {
        concat!(
            " WHERE id = $2 AND lease_token = $3 AND state = 'running'",
            $also,
            " RETURNING state"
        )
    };
}

impl PostgresQueue {
    pub(super) async fn fetch_leases(&self, req: FetchRequest) -> Result<Fetched, QueueError> {
        let now = self.now();
        let mut conn = self.pool.acquire().await?;
        // Rescue and promotion in one statement (disjoint rows: running and scheduled), then the
        // lease in a second, which sees the promoted jobs.
        let row = sqlx::query(concat!(
            "WITH rescued AS (
                 UPDATE queue_jobs SET ",
            spent_attempt!("available"),
            append_error!(),
            clear_lease!(),
            " WHERE seq IN (SELECT seq FROM queue_jobs
                            WHERE state = 'running' AND lease_expires_at <= queue_now($1)
                              AND queue = $2
                            ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING 1
             ), promoted AS (
                 UPDATE queue_jobs SET state = 'available'
                 WHERE seq IN (SELECT seq FROM queue_jobs
                               WHERE queue = $2 AND state = 'scheduled' AND run_at <= queue_now($1)
                               ORDER BY run_at LIMIT $7 FOR UPDATE SKIP LOCKED)
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM rescued) AS rescued,
                    (SELECT count(*) FROM promoted) AS promoted"
        ))
        .bind(now)
        .bind(&req.queue)
        .bind(limit_i64(self.config.rescue_limit))
        .bind("lease_expired")
        .bind("the worker stopped renewing its lease (crashed or lost its connection)")
        .bind(0_i64)
        .bind(limit_i64(self.config.promote_limit))
        .fetch_one(&mut *conn)
        .await?;
        let rescued = row.try_get::<i64, _>("rescued")? as usize;
        let promoted = row.try_get::<i64, _>("promoted")? as usize;
        let rows = sqlx::query(
            "WITH next AS (
                 SELECT seq FROM queue_jobs
                 WHERE queue = $2 AND state = 'available'
                   AND NOT EXISTS (SELECT 1 FROM queue_queues WHERE name = $2 AND paused)
                 ORDER BY priority DESC, run_at, seq
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE queue_jobs j
             SET state = 'running', attempt = j.attempt + 1,
                 lease_token = nextval('queue_lease_tokens'),
                 lease_expires_at = queue_now($1) + $4, worker = $5
             FROM next WHERE j.seq = next.seq
             RETURNING j.seq, j.id, j.kind, j.args, j.attempt, j.max_attempts, j.tenant,
                       j.priority, j.run_at, j.lease_token",
        )
        .bind(now)
        .bind(&req.queue)
        .bind(limit_i64(req.limit))
        .bind(duration_ms(req.lease_ttl))
        .bind(&req.worker)
        .fetch_all(&mut *conn)
        .await?;
        let mut keyed = Vec::with_capacity(rows.len());
        for r in rows {
            let args: String = r.try_get("args")?;
            let job = LeasedJob {
                lease: Lease {
                    id: JobId(r.try_get("id")?),
                    queue: req.queue.clone(),
                    token: r.try_get("lease_token")?,
                    attempt: r.try_get::<i64, _>("attempt")? as u32,
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
                -i64::from(job.priority),
                job.run_at,
                r.try_get::<i64, _>("seq")?,
            );
            keyed.push((key, job));
        }
        // RETURNING has no order: restore the one the contract promises.
        keyed.sort_by_key(|(k, _)| *k);
        Ok(Fetched {
            jobs: keyed.into_iter().map(|(_, j)| j).collect(),
            promoted,
            rescued,
        })
    }

    pub(super) async fn renew_leases(
        &self,
        leases: &[Lease],
        ttl: Duration,
    ) -> Result<Renewed, QueueError> {
        if leases.is_empty() {
            return Ok(Renewed::default());
        }
        let (ids, tokens) = lease_arrays(leases);
        let rows = sqlx::query(
            "UPDATE queue_jobs j SET lease_expires_at = queue_now($1) + $2
             FROM unnest($3::text[], $4::bigint[]) AS l(id, token)
             WHERE j.id = l.id AND j.lease_token = l.token
               AND j.state = 'running' AND j.lease_expires_at > queue_now($1)
             RETURNING j.id, j.lease_token, j.cancel_requested",
        )
        .bind(self.now())
        .bind(duration_ms(ttl))
        .bind(ids)
        .bind(tokens)
        .fetch_all(&self.pool)
        .await?;
        let mut held: HashMap<(String, i64), bool> = HashMap::with_capacity(rows.len());
        for r in rows {
            held.insert(
                (r.try_get("id")?, r.try_get("lease_token")?),
                r.try_get("cancel_requested")?,
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
        Ok(out)
    }

    /// A batch of acks in one transaction: its successes in one statement, the rest one each.
    pub(super) async fn complete_leases(
        &self,
        items: &[(Lease, Outcome)],
    ) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await?;
        if items.len() == 1 {
            let (lease, outcome) = &items[0];
            return match complete_on(&mut conn, self.now(), &self.config.retry, lease, outcome)
                .await
            {
                Err(QueueError::Storage(e)) => Err(QueueError::Storage(e)),
                other => Ok(vec![other]),
            };
        }
        let mut tx = conn.begin().await?;
        let answers = complete_all_on(&mut tx, self.now(), &self.config.retry, items).await?;
        tx.commit().await?;
        Ok(answers)
    }

    pub(super) async fn release_leases(&self, leases: &[Lease]) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        let (ids, tokens) = lease_arrays(leases);
        let queues: Vec<String> = sqlx::query_scalar(
            "UPDATE queue_jobs j
             SET state = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'available' END,
                 finished_at = CASE WHEN j.cancel_requested THEN queue_now($1) END,
                 attempt = j.attempt - 1, lease_token = NULL, lease_expires_at = NULL, worker = NULL
             FROM unnest($2::text[], $3::bigint[]) AS l(id, token)
             WHERE j.id = l.id AND j.lease_token = l.token AND j.state = 'running'
             RETURNING j.queue",
        )
        .bind(self.now())
        .bind(ids)
        .bind(tokens)
        .fetch_all(&self.pool)
        .await?;
        let released = queues.len();
        let queues: HashSet<String> = queues.into_iter().collect();
        self.wake_local(&queues);
        Ok(released)
    }
}

/// Ends each attempt on `conn` (a transaction), fenced on its own; fails as a whole only when the
/// database does.
pub(super) async fn complete_all_on(
    conn: &mut PgConnection,
    now: Option<i64>,
    retry: &RetryPolicy,
    items: &[(Lease, Outcome)],
) -> Result<Vec<Result<JobState, QueueError>>, QueueError> {
    let mut out: Vec<Option<Result<JobState, QueueError>>> =
        std::iter::repeat_with(|| None).take(items.len()).collect();
    let distinct = items
        .iter()
        .map(|(l, _)| l.id.as_str())
        .collect::<HashSet<_>>()
        .len()
        == items.len();
    if distinct {
        succeed_all(conn, now, items, &mut out).await?;
    }
    for ((lease, outcome), slot) in items.iter().zip(out.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        match complete_on(conn, now, retry, lease, outcome).await {
            Err(QueueError::Storage(e)) => return Err(QueueError::Storage(e)),
            other => *slot = Some(other),
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(QueueError::Storage("an ack was skipped".into()))))
        .collect())
}

/// Completes every `Succeeded` item whose lease still holds its job in one statement; fills their
/// answers and leaves the rest to [`complete_on`], which finds out why.
async fn succeed_all(
    conn: &mut PgConnection,
    now: Option<i64>,
    items: &[(Lease, Outcome)],
    out: &mut [Option<Result<JobState, QueueError>>],
) -> Result<(), QueueError> {
    let (mut ids, mut tokens, mut results) = (Vec::new(), Vec::new(), Vec::new());
    for (lease, outcome) in items {
        if let Outcome::Succeeded(result) = outcome {
            ids.push(lease.id.0.clone());
            tokens.push(lease.token);
            results.push(
                serde_json::to_string(result).map_err(|e| QueueError::Invalid(e.to_string()))?,
            );
        }
    }
    if ids.len() < 2 {
        return Ok(());
    }
    let done: HashSet<String> = sqlx::query_scalar(concat!(
        "UPDATE queue_jobs j SET state = 'succeeded', result = v.result,
             finished_at = queue_now($1), ",
        clear_lease!(),
        " FROM unnest($2::text[], $3::bigint[], $4::text[]) AS v(id, token, result)
          WHERE j.id = v.id AND j.lease_token = v.token AND j.state = 'running'
          RETURNING j.id"
    ))
    .bind(now)
    .bind(ids)
    .bind(tokens)
    .bind(results)
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

/// Ends one attempt on `conn`, fenced by its lease token: one statement.
pub(super) async fn complete_on(
    conn: &mut PgConnection,
    now: Option<i64>,
    retry: &RetryPolicy,
    lease: &Lease,
    outcome: &Outcome,
) -> Result<JobState, QueueError> {
    let base = |sql: &'static str| {
        sqlx::query_scalar::<_, String>(sql)
            .bind(now)
            .bind(lease.id.as_str())
            .bind(lease.token)
    };
    let query = match outcome {
        Outcome::Succeeded(result) => {
            let result =
                serde_json::to_string(result).map_err(|e| QueueError::Invalid(e.to_string()))?;
            base(concat!(
                "UPDATE queue_jobs SET state = 'succeeded', result = $4, finished_at = queue_now($1), ",
                clear_lease!(),
                fence!("")
            ))
            .bind(result)
        }
        Outcome::Retry { error, retry_after } => {
            let delay = retry_after.unwrap_or_else(|| retry.jittered(lease.attempt));
            base(concat!(
                "UPDATE queue_jobs SET ",
                spent_attempt!("scheduled"),
                append_error!(),
                clear_lease!(),
                fence!("")
            ))
            .bind(error.class.clone())
            .bind(error.message.clone())
            .bind(duration_ms(delay))
        }
        Outcome::Snooze(delay) => base(concat!(
            "UPDATE queue_jobs SET ",
            snoozed!("$4"),
            clear_lease!(),
            fence!("")
        ))
        .bind(duration_ms(*delay)),
        // Recorded before the attempt is refunded: the entry names the attempt it interrupted.
        Outcome::Blocked { delay, reason } => base(concat!(
            "UPDATE queue_jobs SET ",
            append_error!(),
            snoozed!("$6"),
            clear_lease!(),
            fence!("")
        ))
        .bind(reason.class.clone())
        .bind(reason.message.clone())
        .bind(duration_ms(*delay)),
        Outcome::Abort(error) => base(concat!(
            "UPDATE queue_jobs SET state = 'dead', finished_at = queue_now($1), ",
            append_error!(),
            clear_lease!(),
            fence!("")
        ))
        .bind(error.class.clone())
        .bind(error.message.clone()),
        // Only a real cancel request ends a job cancelled (machine::step).
        Outcome::Cancelled => base(concat!(
            "UPDATE queue_jobs SET state = 'cancelled', finished_at = queue_now($1), ",
            clear_lease!(),
            fence!(" AND cancel_requested")
        )),
    };
    let state = query.fetch_optional(&mut *conn).await?;
    match state {
        Some(state) => state.parse().map_err(QueueError::Storage),
        None => Err(why_not_completed(conn, lease).await),
    }
}

/// Why a completion changed nothing: the lease is gone, or (for `Cancelled` without a request)
/// the state machine refuses it.
async fn why_not_completed(conn: &mut PgConnection, lease: &Lease) -> QueueError {
    let held = sqlx::query_scalar::<_, i32>(
        "SELECT 1 FROM queue_jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'",
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

/// Returns expired leases (of every queue) to `available`, `dead` on their last attempt, or
/// `cancelled` when asked; at most `limit`.
pub(super) async fn rescue(
    pool: &PgPool,
    now: Option<i64>,
    queue: Option<&str>,
    limit: usize,
) -> Result<usize, QueueError> {
    let done = sqlx::query(concat!(
        "UPDATE queue_jobs SET ",
        spent_attempt!("available"),
        append_error!(),
        clear_lease!(),
        " WHERE seq IN (SELECT seq FROM queue_jobs
                        WHERE state = 'running' AND lease_expires_at <= queue_now($1)
                          AND ($2::text IS NULL OR queue = $2)
                        ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
    ))
    .bind(now)
    .bind(queue)
    .bind(limit_i64(limit))
    .bind("lease_expired")
    .bind("the worker stopped renewing its lease (crashed or lost its connection)")
    .bind(0_i64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() as usize)
}

fn lease_arrays(leases: &[Lease]) -> (Vec<String>, Vec<i64>) {
    leases.iter().map(|l| (l.id.0.clone(), l.token)).unzip()
}
