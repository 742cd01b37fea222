//! `dezky-jobs bench`: the same definitions as the BullMQ peer (`shared/bench/peer-bullmq`).
//! N no-op jobs are pushed in batches of 1,000 (`enqueue_per_s`), then drained through the real
//! worker path — apalis, our source and ack layer — with `process_per_s` = (N−1) / (last − first
//! recorded completion). Pickup latency comes from a separate idle phase: 200 single pushes, each
//! waited for, timed from before the push to the handler's start. On Redis it also counts every
//! command the server ran per job (`INFO commandstats`, from the first push through retention)
//! and the keys left once retention ran. It uses a throwaway SQLite file or Redis key prefix,
//! never the configured store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod dashboard;
mod redis_stats;
mod search;
mod target;

use anyhow::{Context, bail};
use dezky_jobs::{JobContext, JobError, JobKind, KindSettings, Registry};
use dezky_queue::{DynQueue, JobFilter, JobState, NewJob, Retention};
use dezky_worker::WorkerConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{BenchArgs, BenchMode};
use crate::shutdown::Shutdown;
use target::Target;

/// Single pushes timed in the pickup phase.
const PICKUPS: usize = 200;
/// Jobs per bulk push.
const BATCH: usize = 1000;

/// The one JSON line `bench` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Backend measured.
    pub backend: &'static str,
    /// `plain` or `retry`.
    pub mode: &'static str,
    /// Jobs.
    pub n: usize,
    /// Worker concurrency.
    pub concurrency: usize,
    /// Bulk enqueue rate.
    pub enqueue_per_s: u64,
    /// Drain rate between first and last completion.
    pub process_per_s: u64,
    /// Median idle pickup latency.
    pub pickup_p50_ms: f64,
    /// 99th percentile idle pickup latency.
    pub pickup_p99_ms: f64,
    /// Median time of a search for text no job has, over the whole backlog (a page may come
    /// back short with a cursor: the search budget bounds it).
    pub search_ms: f64,
    /// Redis only: every command the server ran, scripts' inner commands included, from the first
    /// push to the end of retention, per job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_cmds_per_job: Option<f64>,
    /// Redis only: keys left under the benchmark's prefix once retention deleted the drained jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_after_retention: Option<usize>,
}

/// The benchmark's job kind: succeeds (in retry mode, after failing its first attempt) and
/// reports pickups.
struct BenchKind {
    retry_once: bool,
    pickups: mpsc::UnboundedSender<(usize, Instant)>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct BenchArgsPayload {
    pickup: Option<usize>,
}

impl JobKind for BenchKind {
    type Args = BenchArgsPayload;
    const NAME: &'static str = "bench";

    fn settings(&self) -> KindSettings {
        KindSettings {
            max_attempts: 3,
            ..KindSettings::default()
        }
    }

    async fn run(
        &self,
        ctx: JobContext,
        args: BenchArgsPayload,
    ) -> Result<dezky_jobs::Output, JobError> {
        if let Some(i) = args.pickup {
            let _ = self.pickups.send((i, Instant::now()));
        }
        if self.retry_once && ctx.attempt == 1 {
            return Err(JobError::retry("planned first-attempt failure"));
        }
        Ok(serde_json::Value::Null.into())
    }
}

/// Completion times recorded by the worker's success observer.
#[derive(Default)]
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

/// Runs the benchmark `args` ask for and answers its one JSON line; `redis_url` is where
/// `--backend redis` measures, `database_url` where `--backend postgres` does.
pub async fn report_line(
    args: &BenchArgs,
    redis_url: Option<&str>,
    database_url: &str,
) -> anyhow::Result<String> {
    let at = target::Where {
        redis_url,
        database_url,
    };
    if args.search {
        let target = Target::open(args.backend, &at).await?;
        let report = search::run(&target.queue, target.name(), args.jobs).await;
        target.finish().await?;
        return Ok(serde_json::to_string(&report?)?);
    }
    Ok(serde_json::to_string(&run(args, &at).await?)?)
}

/// Runs the drain benchmark on the backend `args` name, at `at`.
async fn run(args: &BenchArgs, at: &target::Where<'_>) -> anyhow::Result<BenchReport> {
    if args.jobs < 2 || args.concurrency == 0 {
        bail!("--jobs must be at least 2 and --concurrency at least 1");
    }
    let target = Target::open(args.backend, at).await?;
    let queue = target.queue.clone();
    let mut redis_conn = target.redis.as_ref().map(|(conn, _)| conn.clone());
    let calls_before = match redis_conn.as_mut() {
        Some(conn) => Some(redis_stats::command_calls(conn).await?),
        None => None,
    };

    let enqueue_started = Instant::now();
    for start in (0..args.jobs).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(args.jobs))
            .map(|_| NewJob::new("bench", serde_json::json!({})))
            .collect();
        queue.push_bulk(batch).await?;
    }
    let enqueue_secs = enqueue_started.elapsed().as_secs_f64();
    // The search probe is no part of a job's life: its commands are left out of the count.
    let before_search = match redis_conn.as_mut() {
        Some(conn) => Some(redis_stats::command_calls(conn).await?),
        None => None,
    };
    let search_ms = search_latency(&queue).await?;
    let after_search = match redis_conn.as_mut() {
        Some(conn) => Some(redis_stats::command_calls(conn).await?),
        None => None,
    };

    let (pickup_tx, mut pickup_rx) = mpsc::unbounded_channel();
    let registry = Registry::new().register(BenchKind {
        retry_once: args.mode == BenchMode::Retry,
        pickups: pickup_tx,
    });
    let completions = Arc::new(Completions::default());
    let observer = {
        let c = completions.clone();
        Arc::new(move || c.record()) as dezky_worker::SuccessObserver
    };
    let config = WorkerConfig {
        concurrency: Some(args.concurrency),
        batch: args.concurrency.min(64),
        ..WorkerConfig::default()
    };
    let stop = Shutdown::default();
    let workers = tokio::spawn(dezky_worker::run_observed_workers(
        queue.clone(),
        registry,
        config,
        dezky_worker::Hooks {
            on_success: Some(observer),
            ..dezky_worker::Hooks::default()
        },
        stop.wait(),
    ));

    let deadline = Instant::now() + Duration::from_secs(3600);
    while completions.count.load(Ordering::SeqCst) < args.jobs {
        if Instant::now() > deadline || workers.is_finished() {
            bail!(
                "the drain did not finish ({} of {} done)",
                completions.count.load(Ordering::SeqCst),
                args.jobs
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    verify_drained(&queue, args.jobs).await?;
    let (first, last) = completions
        .first_last
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .context("no completions")?;
    let process_secs = (last - first).as_secs_f64().max(f64::EPSILON);

    // Retention: delete the drained jobs now, so its commands count and its clean-up shows.
    let everything = Retention {
        succeeded: Duration::ZERO,
        dead: Duration::ZERO,
    };
    while queue.prune(everything, 10_000).await? > 0 {}
    let (mut redis_cmds_per_job, mut keys_after_retention) = (None, None);
    if let (Some(conn), Some(before), Some(paused), Some(resumed), Some((_, prefix))) = (
        redis_conn.as_mut(),
        &calls_before,
        &before_search,
        &after_search,
        &target.redis,
    ) {
        let after = redis_stats::command_calls(conn).await?;
        let commands = redis_stats::commands_between(before, paused)
            + redis_stats::commands_between(resumed, &after);
        redis_cmds_per_job = Some(round2(commands as f64 / args.jobs as f64));
        keys_after_retention = Some(redis_stats::keys_under(conn, prefix).await?.len());
    }

    let mut latencies = Vec::with_capacity(PICKUPS);
    for i in 0..PICKUPS {
        let pushed_at = Instant::now();
        queue
            .push(NewJob::new("bench", serde_json::json!({ "pickup": i })))
            .await?;
        loop {
            let (n, started) = tokio::time::timeout(Duration::from_secs(30), pickup_rx.recv())
                .await
                .context("a pushed job was not picked up within 30 s")?
                .context("the workers stopped")?;
            if n == i {
                latencies.push(started.duration_since(pushed_at).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    stop.trigger();
    workers.await?.context("workers failed")?;
    let backend = target.name();
    target.finish().await?;
    latencies.sort_by(f64::total_cmp);
    Ok(BenchReport {
        backend,
        mode: if args.mode == BenchMode::Retry {
            "retry"
        } else {
            "plain"
        },
        n: args.jobs,
        concurrency: args.concurrency,
        enqueue_per_s: (args.jobs as f64 / enqueue_secs) as u64,
        process_per_s: ((args.jobs - 1) as f64 / process_secs) as u64,
        pickup_p50_ms: round2(percentile(&latencies, 0.50)),
        pickup_p99_ms: round2(percentile(&latencies, 0.99)),
        search_ms,
        redis_cmds_per_job,
        keys_after_retention,
    })
}

/// Median of 11 searches for text no job has, each a first page of 50.
async fn search_latency(queue: &DynQueue) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(11);
    for _ in 0..11 {
        let started = Instant::now();
        queue
            .list(JobFilter {
                text: Some("no-such-text".into()),
                limit: 50,
                ..Default::default()
            })
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(round2(percentile(&times, 0.5)))
}

/// Checks that the drain ended with every job succeeded and none dead, stuck or waiting.
async fn verify_drained(queue: &DynQueue, n: usize) -> anyhow::Result<()> {
    let counts = queue.counts().await?;
    let bench = counts
        .iter()
        .find(|c| c.queue == "bench")
        .context("the bench queue has no counts")?;
    let succeeded = bench.get(JobState::Succeeded);
    let others: u64 = bench
        .counts
        .iter()
        .filter(|(s, _)| *s != JobState::Succeeded)
        .map(|(_, n)| n)
        .sum();
    if succeeded != n as u64 || others != 0 {
        bail!(
            "the drain left {succeeded} succeeded of {n} and {others} in other states: {bench:?}"
        );
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
