//! SQLite search under a tiny budget (64 rows per request), so that a few hundred jobs already
//! need many requests: the search contract cases still hold, a page can be empty and carry a
//! cursor, and filters an index answers are not held back by the budget.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_queue::contract::sqlite_support::harness_with;
use dezky_queue::contract::{BoxFuture, Harness, HarnessConfig, fetch, walk};
use dezky_queue::{AttemptFailure, JobFilter, JobState, NewJob, Outcome};

const BUDGET: usize = 64;

async fn small_budget_harness(config: HarnessConfig) -> Harness {
    harness_with(config, |s| s.search_budget = BUDGET).await
}

fn factory(c: HarnessConfig) -> BoxFuture<'static, Harness> {
    Box::pin(small_budget_harness(c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rare_text_is_found_with_a_small_budget() {
    dezky_queue::contract::search_finds_a_rare_text_in_the_oldest_job(&factory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_filters_page_through_a_small_budget() {
    dezky_queue::contract::search_pages_combined_filters_across_the_budget(&factory).await;
}

/// 500 jobs, the text only in the oldest: the first page is empty yet has a cursor, and the walk
/// takes one request per budget.
#[tokio::test]
async fn an_empty_page_carries_a_cursor_when_the_budget_runs_out() {
    let h = small_budget_harness(HarnessConfig::default()).await;
    let jobs = (0..500)
        .map(|n| {
            let text = if n == 0 { "needle" } else { "hay" };
            NewJob::new("q", serde_json::json!({ "n": n, "t": text }))
        })
        .collect();
    h.queue.push_bulk(jobs).await.unwrap();
    let filter = JobFilter {
        text: Some("needle".into()),
        limit: 10,
        ..Default::default()
    };
    let first = h.queue.list(filter.clone()).await.unwrap();
    assert!(first.jobs.is_empty());
    assert!(
        first.next_cursor.is_some(),
        "an empty page must say to go on"
    );
    assert_eq!(walk(&h.queue, filter).await.len(), 1);
}

/// A state filter is answered by its index: the few dead jobs among many come back on the first
/// page, with no cursor, though they are the oldest.
#[tokio::test]
async fn an_indexed_filter_is_not_held_back_by_the_budget() {
    let h = small_budget_harness(HarnessConfig::default()).await;
    let doomed = (0..3)
        .map(|n| {
            let mut j = NewJob::new("doomed", serde_json::json!({ "n": n }));
            j.max_attempts = 1;
            j
        })
        .collect();
    h.queue.push_bulk(doomed).await.unwrap();
    for job in fetch(&h, "doomed", 3).await.jobs {
        h.queue
            .complete(
                &job.lease,
                Outcome::Abort(AttemptFailure::new("permanent", "no")),
            )
            .await
            .unwrap();
    }
    h.queue
        .push_bulk(
            (0..BUDGET as i64 * 5)
                .map(|n| NewJob::new("q", serde_json::json!({ "n": n })))
                .collect(),
        )
        .await
        .unwrap();
    let page = h
        .queue
        .list(JobFilter {
            state: Some(JobState::Dead),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 3);
    assert!(page.next_cursor.is_none());
}
