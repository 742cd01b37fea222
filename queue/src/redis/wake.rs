//! Cross-process wake-ups: one task per queue and process blocks on the queue's wake list
//! (`BLPOP`, on a connection of its own since a blocking call holds its connection) and tells the
//! process's idle workers through the [`WakeHub`]. Tokens persist in the list, so a wake-up that
//! arrives while nobody listens is not lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::conn::Connector;
use crate::wake::WakeHub;

/// The listener tasks of one backend, aborted when it is dropped.
#[derive(Debug, Default)]
pub(super) struct Listeners {
    tasks: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Listeners {
    /// Starts the listener of `queue` unless it runs already.
    pub(super) fn ensure(
        &self,
        queue: &str,
        connector: &Connector,
        key: &str,
        hub: &WakeHub,
        block: Duration,
    ) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.get(queue).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let (connector, key, hub, queue_name) = (
            connector.clone(),
            key.to_owned(),
            hub.clone(),
            queue.to_owned(),
        );
        tasks.insert(
            queue.to_owned(),
            tokio::spawn(listen(connector, key, hub, queue_name, block)),
        );
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            task.abort();
        }
    }
}

async fn listen(connector: Connector, key: String, hub: WakeHub, queue: String, block: Duration) {
    loop {
        let mut conn = match connector.blocking().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(queue = %queue, error = %e, "wake listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let popped: redis::RedisResult<Option<(String, String)>> = redis::cmd("BLPOP")
                .arg(&key)
                .arg(block.as_secs_f64())
                .query_async(&mut conn)
                .await;
            match popped {
                Ok(Some(_)) => hub.notify(&queue),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(queue = %queue, error = %e, "wake listener lost its connection; reconnecting");
                    // Work may have arrived while we could not hear it.
                    hub.notify(&queue);
                    break;
                }
            }
        }
    }
}
