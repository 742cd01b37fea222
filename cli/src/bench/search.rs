//! `dezky-jobs bench --search`: how reads hold up in a large backlog. Pushes `--jobs` jobs (in
//! batches of 1,000; no workers, so all stay queued) with one value present only in the oldest —
//! the worst case for a newest-first search — then times a search for it from the first page,
//! following cursors until the job shows up, and the per-state counts (median of 11), then the
//! dashboard's search page and overview on the same backlog ([`dashboard`](super::dashboard)).

use std::time::Instant;

use anyhow::Context;
use dezky_queue::{DynQueue, JobFilter, NewJob};
use serde::Serialize;

use super::{percentile, round2};

/// Jobs per bulk push.
const BATCH: usize = 1000;

/// The one JSON line `bench --search` prints.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    /// Backend measured.
    pub backend: &'static str,
    /// Jobs in the backlog.
    pub n: usize,
    /// Bulk enqueue rate while filling it.
    pub enqueue_per_s: u64,
    /// From the first page to the page holding the one matching job, cursors followed.
    pub search_found_ms: f64,
    /// Search requests that took.
    pub search_requests: usize,
    /// Median time of the per-state counts.
    pub counts_ms: f64,
    /// The dashboard on the same backlog.
    #[serde(flatten)]
    pub dashboard: super::dashboard::DashboardTimes,
}

/// Fills the backlog and measures.
pub async fn run(
    queue: &DynQueue,
    backend: &'static str,
    n: usize,
) -> anyhow::Result<SearchReport> {
    let needle = format!("needle-{}", std::process::id());
    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let batch = (start..(start + BATCH).min(n))
            .map(|i| {
                let args = if i == 0 {
                    serde_json::json!({ "n": i, "tag": needle })
                } else {
                    serde_json::json!({ "n": i, "tag": "hay" })
                };
                NewJob::new("bench", args)
            })
            .collect();
        queue.push_bulk(batch).await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut cursor = None;
    let mut requests = 0;
    loop {
        requests += 1;
        let page = queue
            .list(JobFilter {
                text: Some(needle.clone()),
                limit: 50,
                cursor: cursor.take(),
                ..Default::default()
            })
            .await?;
        if !page.jobs.is_empty() {
            break;
        }
        cursor = Some(
            page.next_cursor
                .context("the search ended without finding the job")?,
        );
    }
    let search_found_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut times = Vec::with_capacity(11);
    for _ in 0..11 {
        let started = Instant::now();
        let counts = queue.counts().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let total: u64 = counts
            .iter()
            .flat_map(|c| c.counts.iter().map(|(_, k)| k))
            .sum();
        anyhow::ensure!(total == n as u64, "counts say {total} jobs, not {n}");
    }
    times.sort_by(f64::total_cmp);
    let dashboard = super::dashboard::measure(queue, &needle).await?;
    Ok(SearchReport {
        backend,
        n,
        enqueue_per_s: (n as f64 / enqueue_secs) as u64,
        search_found_ms: round2(search_found_ms),
        search_requests: requests,
        counts_ms: round2(percentile(&times, 0.5)),
        dashboard,
    })
}
