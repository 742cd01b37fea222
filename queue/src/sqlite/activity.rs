//! The overview's reads of each queue: the age of its oldest available job and the jobs that
//! ended within given windows, each answered by an index seek or range, whatever the backlog.

use std::time::Duration;

use sqlx::Row;

use super::SqliteQueue;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::{FinishedWithin, QueueActivity};

impl SqliteQueue {
    pub(super) async fn queue_activity(
        &self,
        windows: &[Duration],
    ) -> Result<Vec<QueueActivity>, QueueError> {
        let queues = self.queue_counts().await?;
        let now = self.now();
        let mut tx = self.read.begin().await?;
        let mut out = Vec::with_capacity(queues.len());
        for counts in queues {
            let queue = counts.queue;
            // The fetch index orders a queue's available jobs by priority, then run_at: the
            // oldest is the earliest of each priority band's first, one seek a band.
            let mut oldest: Option<i64> = None;
            let mut below = i64::MAX;
            while let Some(row) = sqlx::query(
                "SELECT priority, run_at FROM queue_jobs INDEXED BY queue_jobs_fetch
                 WHERE queue = ? AND state = 'available' AND priority < ?
                 ORDER BY priority DESC, run_at LIMIT 1",
            )
            .bind(&queue)
            .bind(below)
            .fetch_optional(&mut *tx)
            .await?
            {
                let run_at: i64 = row.try_get("run_at")?;
                oldest = Some(oldest.map_or(run_at, |o| o.min(run_at)));
                below = row.try_get("priority")?;
            }
            let mut finished = Vec::with_capacity(windows.len());
            for &window in windows {
                let since = now.saturating_sub(duration_ms(window));
                let mut ended = [0u64; 2];
                for (n, state) in ended.iter_mut().zip(["succeeded", "dead"]) {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM queue_jobs INDEXED BY queue_jobs_queue_finished
                         WHERE queue = ? AND state = ? AND finished_at >= ?",
                    )
                    .bind(&queue)
                    .bind(state)
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await?;
                    *n = count.max(0) as u64;
                }
                finished.push(FinishedWithin {
                    window,
                    succeeded: ended[0],
                    dead: ended[1],
                });
            }
            out.push(QueueActivity {
                queue,
                oldest_available_age: oldest
                    .map(|run_at| Duration::from_millis(now.saturating_sub(run_at).max(0) as u64)),
                finished,
            });
        }
        tx.commit().await?;
        Ok(out)
    }
}
