//! Bulk actions on dead jobs (retry them now, or delete them), written once over the contract's
//! own `list`, `retry_now` and `delete`, so every backend behaves alike: bounded per call, newest
//! first, resumable by cursor, and safe beside other writers (a job that left `dead` meanwhile is
//! skipped).

use crate::backend::QueueBackend;
use crate::error::QueueError;
use crate::model::{BulkAction, BulkDone, JobFilter, JobState};

/// The most pages one bulk call reads, so that a filter which matches little of a large dead set
/// still answers promptly (with a cursor to go on).
pub const MAX_PAGES_PER_CALL: usize = 20;

/// Applies `action` to at most `limit` dead jobs matching `filter` (its state is taken as
/// `dead`; its cursor says where to start), newest first.
pub async fn bulk_dead<Q: QueueBackend + ?Sized>(
    queue: &Q,
    action: BulkAction,
    mut filter: JobFilter,
    limit: usize,
) -> Result<BulkDone, QueueError> {
    filter.state = Some(JobState::Dead);
    let mut done = BulkDone::default();
    for _ in 0..MAX_PAGES_PER_CALL {
        let left = limit.saturating_sub(done.touched);
        if left == 0 {
            break;
        }
        // A page never holds more than the jobs still allowed, so the cursor after it is
        // exactly where the next call goes on.
        filter.limit = left.min(500);
        let page = queue.list(filter.clone()).await?;
        for job in page.jobs {
            done.examined += 1;
            if job.state != JobState::Dead {
                continue;
            }
            let changed = match action {
                BulkAction::Retry => queue.retry_now(&job.id).await.map(drop),
                BulkAction::Delete => queue.delete(&job.id).await.map(drop),
            };
            match changed {
                Ok(()) => done.touched += 1,
                Err(QueueError::NotFound(_) | QueueError::InvalidState { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        filter.cursor = page.next_cursor;
        done.next_cursor = filter.cursor.clone();
        if filter.cursor.is_none() {
            break;
        }
    }
    Ok(done)
}
