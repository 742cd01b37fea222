//! Our migrations on one SQLite file, taken in turns across processes. sqlx's migrator takes no
//! lock on SQLite, so processes starting together on a new file (several workers, the API, the
//! store beside the queue) would each apply the first migration and all but one fail. An
//! exclusive lock on a file beside the database (`<db>.migrating`) makes them wait their turn;
//! the ones after the first find every migration applied.

use std::path::Path;

use sqlx::SqlitePool;

use super::MIGRATOR;
use crate::error::QueueError;

/// Applies every pending migration to the database at `path` through `pool`, holding the
/// migration lock meanwhile.
/// Runs `open` again while SQLite answers "database is locked" (processes starting together on
/// one new file all switch it to WAL at once, and that switch does not wait for the busy
/// timeout), for up to about ten seconds; any other answer is returned as it is.
pub async fn while_busy<T, F, Fut>(mut open: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut wait = std::time::Duration::from_millis(20);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open().await {
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("5") && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(error = %e, "SQLite busy while opening; trying again");
                // Jittered, so processes that collided do not collide again.
                let jitter = rand::random::<u64>() % 20;
                tokio::time::sleep(wait + std::time::Duration::from_millis(jitter)).await;
                wait = (wait * 2).min(std::time::Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

pub async fn migrate_sqlite(pool: &SqlitePool, path: &Path) -> Result<(), QueueError> {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".migrating");
    let lock = std::path::PathBuf::from(lock);
    let held = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| QueueError::Storage(format!("migration lock: {e}")))?
    .map_err(|e| QueueError::Storage(format!("migration lock beside {}: {e}", path.display())))?;
    let migrated = MIGRATOR.run(pool).await;
    drop(held);
    migrated?;
    Ok(())
}
