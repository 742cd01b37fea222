//! The worker's run history kept in the store: a row per attempt, written when it starts and
//! completed when it ends. Records go to a task of their own over a channel, so a job never
//! waits for the store: the task takes whatever has queued up, keeps the newest record of each
//! attempt, writes them in one transaction, and pauses a moment before the next write. If the store fails,
//! that batch is logged and dropped: history is for people, the queue is the truth.

use std::collections::HashMap;

use dezky_store::{Run, Store};
use dezky_worker::run_log::{AttemptRecord, RunLog};
use tokio::sync::mpsc;

/// Most records one write carries.
const MAX_BATCH: usize = 5000;
/// Pause after each write, so that the next one carries many records: on the SQLite default the
/// store shares the queue's file, and each write takes the file's one write lock from the
/// queue's writer.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// The store as the workers' [`RunLog`].
#[derive(Debug, Clone)]
pub struct StoreRunLog {
    records: mpsc::UnboundedSender<AttemptRecord>,
}

impl StoreRunLog {
    /// Starts the writer task on the current runtime; it ends once every handle is gone.
    pub fn spawn(store: Store) -> Self {
        let (records, queued) = mpsc::unbounded_channel();
        tokio::spawn(write(store, queued));
        Self { records }
    }
}

impl RunLog for StoreRunLog {
    fn record(&self, attempt: AttemptRecord) {
        // Only fails once the writer is gone, at shutdown.
        let _ = self.records.send(attempt);
    }
}

async fn write(store: Store, mut queued: mpsc::UnboundedReceiver<AttemptRecord>) {
    while let Some(first) = queued.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let runs = newest_per_attempt(batch);
        if let Err(e) = store.record_runs(&runs).await {
            tracing::warn!(error = %e, runs = runs.len(), "could not write the run history");
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// One row per attempt, its newest record, in the order attempts first appear.
fn newest_per_attempt(batch: Vec<AttemptRecord>) -> Vec<Run> {
    let mut at: HashMap<(String, u32), usize> = HashMap::new();
    let mut runs: Vec<Run> = Vec::with_capacity(batch.len());
    for record in batch {
        let run = Run {
            job_id: record.job_id.clone(),
            attempt: i32::try_from(record.attempt).unwrap_or(i32::MAX),
            kind: record.kind,
            started_at: record.started_at,
            finished_at: record.ended.as_ref().map(|e| e.at),
            outcome: record.ended.as_ref().map(|e| e.outcome.to_owned()),
            error: record.ended.and_then(|e| e.error),
        };
        match at.get(&(record.job_id.clone(), record.attempt)) {
            Some(&i) => runs[i] = run,
            None => {
                at.insert((record.job_id, record.attempt), runs.len());
                runs.push(run);
            }
        }
    }
    runs
}
