//! Wake-ups across processes: one `LISTEN` connection per process on the queue's channel. Each
//! `NOTIFY` (`<schema>/<queue>`, sent at the commit of a push) becomes an in-process wake-up of
//! that queue when the schema is ours. When the connection drops, every queue is woken once it is
//! back (notifications sent meanwhile are lost); the worker's poll covers the gap.

use std::convert::Infallible;
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
        let Err(e) = session(&pool, &prefix, &hub).await;
        if pool.is_closed() {
            return;
        }
        tracing::debug!(error = %e, "PostgreSQL wake-up listener failed; reconnecting");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One listening connection, until it fails: wakes every queue once it listens (what was sent
/// before is lost), then the queue each notification of our schema names.
async fn session(pool: &PgPool, prefix: &str, hub: &WakeHub) -> Result<Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    hub.notify_all();
    loop {
        // `try_recv` answers `None` when the connection dropped (sqlx reconnects on the next
        // call): whatever was sent meanwhile is lost, so wake everyone.
        match listener.try_recv().await? {
            Some(n) => {
                if let Some(queue) = n.payload().strip_prefix(prefix) {
                    hub.notify(queue);
                }
            }
            None => hub.notify_all(),
        }
    }
}
