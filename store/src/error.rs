//! What can go wrong with the store.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration cannot work (a bad URL).
    #[error("{0}")]
    Config(String),
    /// The database failed or refused (retry, or fix what it says).
    #[error("store unavailable: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("store migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite's migrations (the queue's migrator's) could not be applied.
    #[error("store migrations failed: {0}")]
    SqliteMigrate(#[from] dezky_queue::QueueError),
    /// There is no such row.
    #[error("not found: {0}")]
    NotFound(String),
}
