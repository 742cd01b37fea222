//! Group commit: the one task that runs pushes, fetches, renewals, completions and releases.
//!
//! SQLite commits one transaction at a time, and each commit costs far more than the statements
//! in it (it writes every page it touched to the WAL). So callers do not open transactions of
//! their own: they send their operation to this task and wait for its answer. The task takes
//! the first request, then whatever else is already queued — never waiting for more — and runs
//! them all in one `BEGIN IMMEDIATE` transaction, each inside its own savepoint: a request that
//! fails is rolled back alone and gets its own error while the others commit. Answers and
//! wake-ups go out only once `COMMIT` succeeded; if it fails, every request of the group that had
//! succeeded gets its error. The task, not the caller, owns each write, so a caller that stops
//! waiting (its future dropped) leaves its write to commit or not with its group, never half
//! done.
//!
//! Admin operations (retry now, discard, cancel, pause, prune, rescue) still use the write pool
//! directly: they are rare, and the pool's single connection keeps them between groups.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{SqliteQueueConfig, lease, push};
use crate::clock::Clock;
use crate::error::QueueError;
use crate::model::{FetchRequest, Fetched, JobState, Lease, NewJob, Outcome, Pushed, Renewed};
use crate::wake::WakeHub;

/// Most jobs or leases one group carries: past this the task stops draining the queue, so one
/// transaction (and the wait of everyone in it) stays short even when bulk pushes pile up.
const MAX_GROUP_ITEMS: usize = 2000;

/// Counters of the writer, shared by every clone of the queue (and of its config): for tests
/// and metrics.
#[derive(Debug, Default)]
pub struct WriteStats {
    requests: AtomicU64,
    transactions: AtomicU64,
}

impl WriteStats {
    /// Write requests taken by the writer so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Transactions the writer began so far, one per group of requests.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }
}

/// A write the task runs for a caller.
#[derive(Debug)]
pub(super) enum Op {
    Push(Vec<NewJob>),
    Fetch(FetchRequest),
    Renew(Vec<Lease>, Duration),
    Complete(Vec<(Lease, Outcome)>),
    Release(Vec<Lease>),
}

impl Op {
    /// Jobs or leases the operation carries.
    fn items(&self) -> usize {
        match self {
            Op::Push(jobs) => jobs.len(),
            Op::Fetch(req) => req.limit,
            Op::Renew(leases, _) | Op::Release(leases) => leases.len(),
            Op::Complete(items) => items.len(),
        }
    }

    /// Whether the operation's only write is one statement, atomic on its own, so that in a
    /// group it needs no savepoint of its own: two round trips to the connection's thread saved
    /// on the commonest requests (a single push, an ack, a renewal). Such an operation fails in
    /// that statement or before it — save decoding what the statement returned, which the
    /// schema's column types rule out, and which left the write applied before group commit too.
    fn one_write(&self) -> bool {
        match self {
            Op::Push(jobs) => plain_push(jobs),
            Op::Complete(items) => items.len() == 1,
            Op::Renew(..) | Op::Release(_) => true,
            Op::Fetch(_) => false,
        }
    }
}

/// Whether a push is jobs without dedup keys that fit one multi-row `INSERT`: one statement.
fn plain_push(jobs: &[NewJob]) -> bool {
    jobs.len() <= push::ROWS_PER_INSERT && jobs.iter().all(|j| j.dedup.is_none())
}

/// Merges runs of single-job plain pushes in a group (the commonest request: one job from one
/// HTTP call) into one push each, so that they cost one statement, not one each; answers each
/// op with how many requests it stands for (a bulk push is one request, never merged into).
fn merge_plain_pushes(ops: Vec<Op>) -> Vec<(Op, usize)> {
    // (op, requests, whether it is a run of single plain pushes)
    let mut units: Vec<(Op, usize, bool)> = Vec::with_capacity(ops.len());
    for op in ops {
        let single = matches!(&op, Op::Push(jobs) if jobs.len() == 1 && plain_push(jobs));
        if single
            && let Some((Op::Push(run), requests, true)) = units.last_mut()
            && run.len() < push::ROWS_PER_INSERT
            && let Op::Push(jobs) = op
        {
            run.extend(jobs);
            *requests += 1;
            continue;
        }
        units.push((op, 1, single));
    }
    units.into_iter().map(|(op, n, _)| (op, n)).collect()
}

/// Splits the answer of a merged push back into one answer per request.
fn split_push(
    result: Result<Applied, QueueError>,
    requests: usize,
) -> Vec<Result<Applied, QueueError>> {
    if requests == 1 {
        return vec![result];
    }
    match result {
        Ok(Applied {
            done: Done::Pushed(pushed),
            wake,
        }) => pushed
            .into_iter()
            .map(|p| {
                Ok(Applied {
                    done: Done::Pushed(vec![p]),
                    wake: wake.clone(),
                })
            })
            .collect(),
        Ok(other) => (0..requests)
            .map(|_| Err(mismatch_ref(&other.done)))
            .collect(),
        Err(e) => {
            let message = e.to_string();
            std::iter::once(Err(e))
                .chain((1..requests).map(|_| Err(QueueError::Storage(message.clone()))))
                .collect()
        }
    }
}

/// What an operation answers, once its group committed.
#[derive(Debug)]
pub(super) enum Done {
    Pushed(Vec<Pushed>),
    Fetched(Fetched),
    Renewed(Renewed),
    Completed(Vec<Result<JobState, QueueError>>),
    Released(usize),
}

/// An operation's answer and the queues to wake once it is committed.
#[derive(Debug)]
pub(super) struct Applied {
    pub(super) done: Done,
    pub(super) wake: BTreeSet<String>,
}

impl Applied {
    pub(super) fn quiet(done: Done) -> Self {
        Self {
            done,
            wake: BTreeSet::new(),
        }
    }
}

/// The error of an answer of the wrong kind (a bug of this module).
pub(super) fn mismatch(done: Done) -> QueueError {
    mismatch_ref(&done)
}

fn mismatch_ref(done: &Done) -> QueueError {
    QueueError::Storage(format!("the SQLite writer answered with {done:?}"))
}

#[derive(Debug)]
struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Done, QueueError>>,
}

/// What the task needs: the write pool and what operations read (time, tuning), the wake-ups
/// it sends after commit, the connection its checkpoints run on.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) pool: SqlitePool,
    pub(super) checkpoints: SqlitePool,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: SqliteQueueConfig,
    pub(super) hub: WakeHub,
}

/// The callers' handle on the task. Clones share it; the task ends once every clone is gone.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: Mutex<mpsc::UnboundedSender<Request>>,
    ctx: Arc<Ctx>,
}

impl Writer {
    /// Starts the task on the current Tokio runtime.
    pub(super) fn start(ctx: Ctx) -> Self {
        let ctx = Arc::new(ctx);
        Self {
            inner: Arc::new(Inner {
                tx: Mutex::new(spawn(ctx.clone())),
                ctx,
            }),
        }
    }

    /// Runs `op` in the next group and answers once that group committed.
    pub(super) async fn run(&self, op: Op) -> Result<Done, QueueError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut tx = self.inner.tx.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(mpsc::error::SendError(request)) = tx.send(Request { op, reply }) {
                // The task is gone with the runtime it ran on (a test's runtime, a `block_on`
                // that ended): start another on the caller's.
                *tx = spawn(self.inner.ctx.clone());
                tx.send(request)
                    .map_err(|_| QueueError::Storage("the SQLite writer did not start".into()))?;
            }
        }
        answer
            .await
            .map_err(|_| QueueError::Storage("the SQLite writer stopped before answering".into()))?
    }
}

fn spawn(ctx: Arc<Ctx>) -> mpsc::UnboundedSender<Request> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(ctx, rx));
    tx
}

/// The task: one group per turn, until every handle is gone and the queue is drained.
async fn serve(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<Request>) {
    let max_requests = ctx.config.max_group.max(1);
    // Lives as long as this task: a task started again on another runtime starts its own.
    let (checkpoint_due, due) = mpsc::channel(1);
    tokio::spawn(checkpoint(ctx.checkpoints.clone(), due));
    while let Some(first) = rx.recv().await {
        let mut items = first.op.items();
        let mut group = vec![first];
        // Only what is already queued: waiting for more would add latency when load is low.
        while group.len() < max_requests && items < MAX_GROUP_ITEMS {
            match rx.try_recv() {
                Ok(request) => {
                    items += request.op.items();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        if run_group(&ctx, group).await {
            // Never waits: when the channel is full, a checkpoint is already due and will take
            // this commit along.
            let _ = checkpoint_due.try_send(());
        }
    }
}

/// Pause after each checkpoint, so that one checkpoint takes many commits along.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);

/// Copies committed WAL frames into the database file, beside the writer. SQLite's automatic
/// checkpoint would run inside a `COMMIT` on the write connection, making the whole group (and
/// everyone queued behind it) wait for the copy and the file sync: the tail of push latency.
/// The write connection has it turned off (`wal_autocheckpoint = 0`); this task, on a
/// connection of its own, checkpoints after commits instead. `PASSIVE`: it copies what no
/// reader still needs, without waiting for readers or blocking the writer.
async fn checkpoint(pool: SqlitePool, mut due: mpsc::Receiver<()>) {
    while due.recv().await.is_some() {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            // The next commit asks again; a closed queue ends with its writer.
            tracing::debug!(error = %e, "SQLite checkpoint failed");
        }
        tokio::time::sleep(CHECKPOINT_PAUSE).await;
    }
}

/// The write connection for one group. If the group does not end cleanly (the task was dropped
/// mid-transaction, or a `COMMIT`/`ROLLBACK` failed), the connection is closed instead of going
/// back to the pool, so no transaction is left open on it: closing rolls it back.
struct Held {
    conn: PoolConnection<Sqlite>,
    clean: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.clean {
            self.conn.close_on_drop();
        }
    }
}

/// Runs one group and answers everyone in it; tells whether it committed anything.
async fn run_group(ctx: &Ctx, group: Vec<Request>) -> bool {
    ctx.config
        .write_stats
        .requests
        .fetch_add(group.len() as u64, Ordering::Relaxed);
    let (ops, replies): (Vec<Op>, Vec<_>) = group.into_iter().map(|r| (r.op, r.reply)).unzip();
    let (results, failed) = match ctx.pool.acquire().await {
        Err(e) => (Vec::new(), Some(e.to_string())),
        Ok(conn) => {
            ctx.config
                .write_stats
                .transactions
                .fetch_add(1, Ordering::Relaxed);
            let mut held = Held { conn, clean: false };
            let (results, ended) = transaction(ctx, &mut held.conn, ops).await;
            held.clean = ended.clean;
            (results, ended.failed)
        }
    };
    let committed = failed.is_none() && results.iter().any(Result::is_ok);
    if failed.is_none() {
        let wake: BTreeSet<&String> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flat_map(|a| &a.wake)
            .collect();
        for queue in wake {
            ctx.hub.notify(queue);
        }
    }
    let mut results = results.into_iter();
    for reply in replies {
        let answer = match (results.next(), &failed) {
            // A request's own failure is its answer, whatever became of the group: its writes
            // were rolled back either way.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(applied)), None) => Ok(applied.done),
            (_, Some(message)) => Err(QueueError::Storage(message.clone())),
            (None, None) => Err(QueueError::Storage(
                "the SQLite writer skipped a request".into(),
            )),
        };
        // A caller that stopped waiting is no reason to stop: its write stands or falls with
        // the group.
        let _ = reply.send(answer);
    }
    committed
}

/// How a group's transaction ended.
struct Ended {
    /// Why the group failed as a whole, if it did (nothing of it was committed).
    failed: Option<String>,
    /// Whether the connection is out of any transaction.
    clean: bool,
}

/// Runs `ops` in one transaction: their results, in order (shorter than `ops` when the group
/// broke off), and how it ended.
async fn transaction(
    ctx: &Ctx,
    conn: &mut SqliteConnection,
    ops: Vec<Op>,
) -> (Vec<Result<Applied, QueueError>>, Ended) {
    let mut results = Vec::with_capacity(ops.len());
    // IMMEDIATE: take the write lock now, so that writers in other processes wait on the busy
    // timeout instead of deadlocking on a lock upgrade.
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE").await {
        let ended = Ended {
            failed: Some(e.to_string()),
            clean: true,
        };
        return (results, ended);
    }
    if ops.len() == 1 {
        // Alone, a request needs no savepoint: its failure rolls back the transaction.
        for op in ops {
            let result = apply(ctx, conn, &op).await;
            let failed = result.is_err();
            results.push(result);
            if failed {
                let clean = exec(conn, "ROLLBACK").await.is_ok();
                return (
                    results,
                    Ended {
                        failed: None,
                        clean,
                    },
                );
            }
        }
    } else {
        // A savepoint around the whole group, never rolled back to: it exists only while the
        // transaction does, so `RELEASE alive` failing tells that SQLite rolled the transaction
        // back on its own (disk full, I/O error). Inside `BEGIN`, releasing it commits nothing.
        if let Err(e) = exec(conn, "SAVEPOINT alive").await {
            return (results, broken(conn, e).await);
        }
        for (op, requests) in merge_plain_pushes(ops) {
            let end = if op.one_write() {
                // A single statement is atomic on its own: on failure it wrote nothing, and
                // only whether the transaction survived is left to check.
                let mut result = apply(ctx, conn, &op).await;
                let mut end = match &result {
                    Ok(_) => Ok(()),
                    Err(_) => survived(conn).await,
                };
                if let (Err(_), Ok(()), Op::Push(jobs)) = (&result, &end, &op)
                    && requests > 1
                {
                    // A merged push failed: each request on its own, so only the one at fault
                    // fails (each still a single statement).
                    for job in jobs {
                        result = apply(ctx, conn, &Op::Push(vec![job.clone()])).await;
                        if result.is_err() {
                            end = survived(conn).await;
                        }
                        results.push(result);
                        if end.is_err() {
                            break;
                        }
                    }
                } else {
                    results.extend(split_push(result, requests));
                }
                end
            } else {
                if let Err(e) = exec(conn, "SAVEPOINT request").await {
                    return (results, broken(conn, e).await);
                }
                let result = apply(ctx, conn, &op).await;
                let end = match &result {
                    Ok(_) => exec(conn, "RELEASE request").await,
                    Err(_) => match exec(conn, "ROLLBACK TO request").await {
                        Ok(()) => exec(conn, "RELEASE request").await,
                        Err(e) => Err(e),
                    },
                };
                results.push(result);
                end
            };
            if let Err(e) = end {
                // The savepoint is gone: SQLite rolled back the whole transaction, and with it
                // every write of the group.
                return (results, broken(conn, e).await);
            }
        }
    }
    match exec(conn, "COMMIT").await {
        Ok(()) => (
            results,
            Ended {
                failed: None,
                clean: true,
            },
        ),
        Err(e) => (results, broken(conn, e).await),
    }
}

/// Ends a group that failed as a whole: rolls back what is left of its transaction.
async fn broken(conn: &mut SqliteConnection, e: sqlx::Error) -> Ended {
    let clean = exec(conn, "ROLLBACK").await.is_ok();
    Ended {
        failed: Some(e.to_string()),
        clean,
    }
}

/// After a statement failed, whether SQLite kept the transaction (it rolls it back by itself on
/// disk full or an I/O error): `RELEASE alive` fails when the savepoint went with it. Renews the
/// savepoint for the rest of the group.
async fn survived(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    exec(conn, "RELEASE alive").await?;
    exec(conn, "SAVEPOINT alive").await
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

/// One operation, on the group's transaction.
async fn apply(ctx: &Ctx, conn: &mut SqliteConnection, op: &Op) -> Result<Applied, QueueError> {
    let now = ctx.clock.now_ms();
    match op {
        Op::Push(jobs) => push::push_on(conn, jobs, now).await,
        Op::Fetch(req) => lease::fetch_on(conn, &ctx.config, req, now).await,
        Op::Renew(leases, ttl) => lease::renew_on(conn, leases, *ttl, now).await,
        Op::Complete(items) => lease::complete_all_on(conn, &ctx.config, items, now).await,
        Op::Release(leases) => lease::release_on(conn, leases, now).await,
    }
}
