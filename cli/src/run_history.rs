//! The worker's run history kept in the store: a row per attempt, written when it starts and
//! completed when it ends.

use dezky_queue::{Clock, SystemClock};
use dezky_store::Store;
use dezky_worker::RunLog;
use dezky_worker::run_log::BoxFuture;

/// The store as the workers' [`RunLog`].
#[derive(Debug, Clone)]
pub struct StoreRunLog(pub Store);

impl RunLog for StoreRunLog {
    fn started<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        kind: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
            self.0
                .run_started(id, attempt, kind, SystemClock.now_ms())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn finished<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        outcome: &'a str,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
            self.0
                .run_finished(id, attempt, outcome, error, SystemClock.now_ms())
                .await
                .map_err(|e| e.to_string())
        })
    }
}
