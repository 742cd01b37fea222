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
