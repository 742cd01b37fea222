//! `dezky-jobs bench`: the same definitions as the BullMQ peer (`shared/bench/peer-bullmq`).
//! N no-op jobs are pushed in batches of 1,000 (`enqueue_per_s`), then drained through the real
//! worker path — apalis, our source and ack layer — with `process_per_s` = (N−1) / (last − first
//! recorded completion). Pickup latency comes from a separate idle phase: 200 single pushes, each
//! waited for, timed from before the push to the handler's start. It uses a throwaway SQLite file,
//! never the configured store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig};
use dezky_queue::{DynQueue, JobState, NewJob, RetryPolicy, SystemClock};
use dezky_worker::WorkerConfig;
use jobs::{JobContext, JobError, JobKind, KindSettings, Registry};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{BenchArgs, BenchBackend, BenchMode};
use crate::shutdown::Shutdown;

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
    ) -> Result<serde_json::Value, JobError> {
        if let Some(i) = args.pickup {
            let _ = self.pickups.send((i, Instant::now()));
        }
        if self.retry_once && ctx.attempt == 1 {
            return Err(JobError::retry("planned first-attempt failure"));
        }
        Ok(serde_json::Value::Null)
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

/// Runs the benchmark.
pub async fn run(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    if args.backend == BenchBackend::Redis {
        bail!("the Redis backend is not available in this build yet");
    }
    if args.jobs < 2 || args.concurrency == 0 {
        bail!("--jobs must be at least 2 and --concurrency at least 1");
    }
    let dir = tempfile::tempdir().context("creating a temp dir for the benchmark database")?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    // BullMQ's retry mode backs off 10 ms exponentially; ours: full jitter under the same ceiling.
    let retry = RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_secs(1),
    };
    let sqlite = SqliteQueue::open(
        &url,
        Arc::new(SystemClock),
        SqliteQueueConfig {
            retry,
            ..Default::default()
        },
    )
    .await?;
    let queue: DynQueue = Arc::new(sqlite.clone());

    let enqueue_started = Instant::now();
    for start in (0..args.jobs).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(args.jobs))
            .map(|_| NewJob::new("bench", serde_json::json!({})))
            .collect();
        queue.push_bulk(batch).await?;
    }
    let enqueue_secs = enqueue_started.elapsed().as_secs_f64();

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
        Some(observer),
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
    sqlite.close().await;
    latencies.sort_by(f64::total_cmp);
    Ok(BenchReport {
        backend: "sqlite",
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
    })
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
