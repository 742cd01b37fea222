//! Benchmark peer: apalis-postgres 1.0 draining a backlog of no-op jobs, with the same
//! definitions as `dezky-jobs bench`.
//!
//! usage: peer-apalis-postgres <DATABASE_URL> <N> <C>
//!
//! 1. Creates a throwaway database `peer_apalis_<pid>_<nanos>` on the server of DATABASE_URL and
//!    runs apalis-postgres's own migrations there (`PostgresStorage::setup`). Not a schema:
//!    apalis-postgres 1.0 hard-codes its `apalis` schema in every query and migration (and
//!    installs the `hstore` extension), so a search_path cannot redirect it; a database of its own
//!    is the only way to leave everything else untouched. It is dropped at the end, on error and
//!    on SIGINT/SIGTERM too.
//! 2. Pushes N jobs `{"n": i}` with `TaskSink::push_bulk`, 1,000 per call (each call is one
//!    UNNEST INSERT in one transaction) → `enqueue_per_s` = N / push time.
//! 3. Drains them with one apalis worker, `.concurrency(C)`, whose handler only records its
//!    completion → `process_per_s` = (N−1) / (last − first completion). apalis-postgres acks
//!    asynchronously (completions go through a channel and are written in batches between
//!    fetches), so it then waits until the database counts all N `Done`: `all_done_s` is the time
//!    from the start of the drain until then.
//!
//! Prints one JSON line on stdout; progress goes to stderr.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apalis::prelude::*;
use apalis_postgres::{PgConnectOptions, PgPool, PostgresStorage};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Jobs per bulk push, as in `dezky-jobs bench`.
const BATCH: usize = 1000;
/// apalis-postgres's default fetch batch (`Config::default().batch_size`).
const DEFAULT_FETCH_BATCH: usize = 10;

/// The job's arguments: `{"n": i}`.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    n: usize,
}

/// Completion times recorded by the handler.
#[derive(Debug, Default)]
struct Completions {
    count: AtomicUsize,
    first_last: Mutex<Option<(Instant, Instant)>>,
}

impl Completions {
    fn record(&self) {
        let now = Instant::now();
        let mut fl = self.first_last.lock().unwrap_or_else(|p| p.into_inner());
        *fl = Some(fl.map_or((now, now), |(first, _)| (first, now)));
        drop(fl);
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

/// The no-op handler: records its completion and succeeds.
async fn handle(_job: Job, completions: Data<Arc<Completions>>) -> Result<(), BoxDynError> {
    completions.record();
    Ok(())
}

#[derive(Debug, Serialize)]
struct Report {
    backend: &'static str,
    n: usize,
    concurrency: usize,
    enqueue_per_s: u64,
    process_per_s: u64,
    all_done_s: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match args.as_slice() {
        [_, url, n, c] => match (n.parse::<usize>(), c.parse::<usize>()) {
            (Ok(n), Ok(c)) if n >= 2 && c >= 1 => Some((url.clone(), n, c)),
            _ => None,
        },
        _ => None,
    };
    let Some((url, n, c)) = parsed else {
        eprintln!("usage: peer-apalis-postgres <DATABASE_URL> <N>=2..> <C>=1..>");
        return ExitCode::from(2);
    };
    match bench(&url, n, c).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("peer-apalis-postgres: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("peer-apalis-postgres: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the throwaway database, runs the benchmark in it, drops it whatever happened.
async fn bench(url: &str, n: usize, c: usize) -> Result<Report, BoxError> {
    let admin_opts: PgConnectOptions = url.parse()?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
    let db = format!("peer_apalis_{}_{nanos:08x}", std::process::id());
    let mut admin = PgConnection::connect_with(&admin_opts).await?;
    admin.execute(AssertSqlSafe(format!("CREATE DATABASE {db}"))).await?;
    eprintln!("created throwaway database {db}");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = run(admin_opts.clone().database(&db), n, c) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT)".into()),
        _ = term.recv() => Err("terminated (SIGTERM)".into()),
    };

    // FORCE ends any connection a failed run left behind (PostgreSQL 13+).
    let dropped = admin
        .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
        .await;
    match &dropped {
        Ok(_) => eprintln!("dropped throwaway database {db}"),
        Err(e) => eprintln!("could not drop throwaway database {db}: {e}"),
    }
    let _ = admin.close().await;
    let report = result?;
    dropped?;
    Ok(report)
}

async fn run(opts: PgConnectOptions, n: usize, c: usize) -> Result<Report, BoxError> {
    // The pool as apalis-postgres's README makes it (sqlx's defaults: up to 10 connections).
    let pool = PgPool::connect_with(opts).await?;
    let report = drive(&pool, n, c).await;
    pool.close().await;
    report
}

async fn drive(pool: &PgPool, n: usize, c: usize) -> Result<Report, BoxError> {
    PostgresStorage::setup(pool).await?;

    // PostgresStorage::new names the queue after the argument type; keep that, and change one
    // setting of the default Config: `batch_size`, the number of jobs one fetch claims (default
    // 10). A fetch happens only once the previous batch has all been handed to the service, so
    // at most `batch_size` jobs are ever in flight: with the default, `.concurrency(C)` could
    // never go past 10. batch_size = max(C, 10) lets it reach C. Everything else (no pub/sub,
    // lock_tasks and persist_results on, 30 s heartbeat) is the default.
    // APALIS_BATCH_SIZE overrides it, to measure the untouched default too.
    let fetch_batch = match std::env::var("APALIS_BATCH_SIZE") {
        Ok(v) => v.parse::<usize>().map_err(|e| format!("APALIS_BATCH_SIZE: {e}"))?,
        Err(_) => c.max(DEFAULT_FETCH_BATCH),
    };
    let storage = PostgresStorage::<Job>::new(pool);
    let config = storage.config().clone().batch_size(fetch_batch);
    let queue = config.queue.to_string();
    let storage = storage.with_config(config);
    eprintln!("queue {queue:?}, fetch batch_size {fetch_batch}, concurrency {c}");

    // Enqueue: push_bulk, BATCH jobs per call.
    let mut sink = storage.clone();
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        sink.push_bulk((i..end).map(|n| Job { n }).collect())
            .await
            .map_err(|e| format!("push_bulk: {e}"))?;
        i = end;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Pending'")
            .bind(&queue)
            .fetch_one(pool)
            .await?;
    if pending != n as i64 {
        return Err(format!("{pending} jobs pending after pushing {n}").into());
    }
    eprintln!("pushed {n} jobs in {enqueue_secs:.3} s");

    // Drain: one worker at concurrency C.
    let completions = Arc::new(Completions::default());
    let ctx = WorkerContext::new("peer-apalis-postgres");
    let worker = WorkerBuilder::new(&ctx)
        .backend(storage)
        .data(completions.clone())
        .concurrency(c)
        .build(handle);
    let drain_started = Instant::now();
    let mut running = tokio::spawn(worker.run());

    let deadline = drain_started + Duration::from_secs(3600);
    while completions.count.load(Ordering::SeqCst) < n {
        if running.is_finished() {
            let end = (&mut running).await;
            return Err(format!(
                "the worker stopped after {} of {n} completions: {end:?}",
                completions.count.load(Ordering::SeqCst)
            )
            .into());
        }
        if Instant::now() > deadline {
            let _ = ctx.stop();
            return Err(format!(
                "the drain did not finish ({} of {n} done)",
                completions.count.load(Ordering::SeqCst)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let handled_s = drain_started.elapsed().as_secs_f64();

    // Acks are asynchronous: wait until the database counts all N done. (Polled only from here
    // on, so the polling does not load the server during the drain; no job can be acked before
    // its handler completed.)
    let count_done = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status = 'Done'",
        )
        .bind(&queue)
        .fetch_one(pool)
        .await
    };
    let ack_deadline = Instant::now() + Duration::from_secs(120);
    let all_done_s = loop {
        let done = count_done().await?;
        if done >= n as i64 {
            break drain_started.elapsed().as_secs_f64();
        }
        if Instant::now() > ack_deadline || running.is_finished() {
            let _ = ctx.stop();
            return Err(format!("only {done} of {n} jobs acked Done in the database").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    eprintln!("handlers done after {handled_s:.3} s, database all Done after {all_done_s:.3} s");

    ctx.stop()?;
    match tokio::time::timeout(Duration::from_secs(30), running).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("worker: {e}").into()),
        Ok(Err(e)) => return Err(format!("worker task: {e}").into()),
        Err(_) => return Err("the worker did not stop within 30 s".into()),
    }
    let not_done: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE status <> 'Done'")
        .fetch_one(pool)
        .await?;
    if not_done != 0 {
        return Err(format!("{not_done} jobs not Done after the drain").into());
    }

    let (first, last) = completions
        .first_last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or("no completions")?;
    let process_secs = (last - first).as_secs_f64().max(f64::EPSILON);
    Ok(Report {
        backend: "apalis-postgres",
        n,
        concurrency: c,
        enqueue_per_s: (n as f64 / enqueue_secs) as u64,
        process_per_s: ((n - 1) as f64 / process_secs) as u64,
        all_done_s: (all_done_s * 1000.0).round() / 1000.0,
    })
}
