//! Wake-ups across processes: one `LISTEN` connection per process on the queue's channel. Each
//! `NOTIFY` (`<schema>/<queue>`, sent at the commit of a push) becomes an in-process wake-up of
//! that queue when the schema is ours. When the connection drops, every queue is woken once it is
//! back (notifications sent meanwhile are lost); the worker's poll covers the gap.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use super::push::CHANNEL;
use crate::wake::WakeHub;

/// The listening task; stopped with the queue (or when the last handle goes).
#[derive(Debug)]
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    pub(super) fn start(pool: PgPool, schema: Arc<str>, hub: WakeHub) -> Self {
        Self {
            task: tokio::spawn(listen(pool, schema, hub)),
        }
    }

    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(pool: PgPool, schema: Arc<str>, hub: WakeHub) {
    let prefix = format!("{schema}/");
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                tracing::debug!(error = %e, "PostgreSQL wake-up listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        hub.notify_all();
        loop {
            // `try_recv` answers `None` when the connection dropped (sqlx reconnects on the next
            // call): whatever was sent meanwhile is lost, so wake everyone.
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if let Some(queue) = n.payload().strip_prefix(&prefix) {
                        hub.notify(queue);
                    }
                }
                Ok(None) => hub.notify_all(),
                Err(e) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::debug!(error = %e, "PostgreSQL wake-up listener failed; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}
