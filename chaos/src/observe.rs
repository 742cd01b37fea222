//! Reading what a run left, for the checker: every job in the queue (following the search's
//! cursors), the run history of the jobs that keep one, and Authentik's objects from the
//! simulator's state file.

use std::collections::BTreeMap;
use std::path::Path;

use dezky_queue::{DynQueue, JobFilter, QueueError};
use dezky_store::{Store, StoreError};

use crate::checker::JobFinal;

/// Every job the queue holds, by id.
pub async fn jobs(queue: &DynQueue) -> Result<BTreeMap<String, JobFinal>, QueueError> {
    jobs_where(queue, JobFilter::default()).await
}

/// Every job `filter` selects (its limit and cursor aside), by id.
pub async fn jobs_where(
    queue: &DynQueue,
    filter: JobFilter,
) -> Result<BTreeMap<String, JobFinal>, QueueError> {
    let mut found = BTreeMap::new();
    let mut filter = JobFilter {
        limit: 500,
        cursor: None,
        ..filter
    };
    loop {
        let page = queue.list(filter.clone()).await?;
        for job in page.jobs {
            found.insert(
                job.id.0,
                JobFinal {
                    kind: job.kind,
                    state: job.state.as_str().to_owned(),
                    attempt: job.attempt,
                    enqueued_by: job.enqueued_by,
                    run_at: job.run_at,
                    created_at: job.created_at,
                    finished_at: job.finished_at,
                },
            );
        }
        match page.next_cursor {
            Some(cursor) => filter.cursor = Some(cursor),
            None => return Ok(found),
        }
    }
}

/// The attempts the run history recorded for each of `ids`.
pub async fn runs<'a>(
    store: &Store,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeMap<String, Vec<u32>>, StoreError> {
    let mut found = BTreeMap::new();
    for id in ids {
        let attempts: Vec<u32> = store
            .runs(id)
            .await?
            .iter()
            .map(|r| u32::try_from(r.attempt).unwrap_or(0))
            .collect();
        if !attempts.is_empty() {
            found.insert(id.clone(), attempts);
        }
    }
    Ok(found)
}

/// Authentik's objects as the simulator saved them (`--state FILE`).
pub fn authentik_objects(state_file: &Path) -> std::io::Result<serde_json::Value> {
    let text = std::fs::read_to_string(state_file)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}
