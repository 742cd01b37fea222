//! Contract cases: search through a bounded scan. A backend may examine only so many jobs per
//! `list` request and answer a cursor to go on, so a page may be short or empty and still have a
//! cursor; following `next_cursor` until it is `None` must find every match exactly once, newest
//! first. 3,000 jobs: more than the Redis budget (2,000 per request).

use std::collections::HashSet;

use super::{Factory, HarnessConfig};
use crate::DynQueue;
use crate::model::{JobFilter, JobId, NewJob};

/// Jobs each case pushes.
const JOBS: i64 = 3000;

/// Requests a walk may make before the case calls it endless.
const MAX_REQUESTS: usize = 10_000;

/// Follows `next_cursor` from the first page to the end; answers the ids in the order listed.
pub async fn walk(queue: &DynQueue, filter: JobFilter) -> Vec<JobId> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_REQUESTS {
        let page = queue
            .list(JobFilter {
                cursor: cursor.clone(),
                ..filter.clone()
            })
            .await
            .expect("list");
        assert!(
            page.jobs.len() <= filter.limit,
            "a page of {} jobs for a limit of {}",
            page.jobs.len(),
            filter.limit
        );
        ids.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next_cursor {
            None => return ids,
            Some(c) => {
                assert_ne!(cursor.as_ref(), Some(&c), "the cursor did not move");
                cursor = Some(c);
            }
        }
    }
    panic!("no end after {MAX_REQUESTS} requests");
}

/// Pushes `JOBS` jobs of kinds k0, k1, k2 (by n % 3), args `{"n": n, "parity": "even"|"odd"}`,
/// the oldest also holding a rare text; answers their ids, oldest first.
async fn push_jobs(queue: &DynQueue) -> Vec<JobId> {
    let mut ids = Vec::new();
    for chunk in 0..JOBS / 1000 {
        let batch = (chunk * 1000..(chunk + 1) * 1000)
            .map(|n| {
                let parity = if n % 2 == 0 { "even" } else { "odd" };
                let mut args = serde_json::json!({ "n": n, "parity": parity });
                if n == 0 {
                    args["note"] = serde_json::json!("a-rare-needle");
                }
                NewJob {
                    queue: Some("search".into()),
                    ..NewJob::new(format!("k{}", n % 3), args)
                }
            })
            .collect();
        let pushed = queue.push_bulk(batch).await.expect("push");
        ids.extend(pushed.into_iter().map(|p| p.id));
    }
    ids
}

/// A text only the oldest job holds is found by following cursors, once.
pub async fn search_finds_a_rare_text_in_the_oldest_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let ids = push_jobs(&h.queue).await;
    let found = walk(
        &h.queue,
        JobFilter {
            text: Some("a-rare-needle".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found, vec![ids[0].clone()]);
}

/// Filters combined (kind and text, queue and text) page through every match once, newest
/// first, across the budget, whatever the page size.
pub async fn search_pages_combined_filters_across_the_budget(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let ids = push_jobs(&h.queue).await;
    let newest_first = |keep: &dyn Fn(i64) -> bool| -> Vec<JobId> {
        (0..JOBS)
            .rev()
            .filter(|n| keep(*n))
            .map(|n| ids[n as usize].clone())
            .collect()
    };

    let found = walk(
        &h.queue,
        JobFilter {
            kind: Some("k1".into()),
            text: Some("\"even\"".into()),
            limit: 40,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found, newest_first(&|n| n % 3 == 1 && n % 2 == 0));

    let found = walk(
        &h.queue,
        JobFilter {
            queue: Some("search".into()),
            text: Some("\"odd\"".into()),
            limit: 500,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found.iter().collect::<HashSet<_>>().len(), found.len());
    assert_eq!(found, newest_first(&|n| n % 2 == 1));
}
