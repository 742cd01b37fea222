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
    /// A secret could not be sealed or opened (a wrong key, a damaged row). Never holds the
    /// secret.
    #[error("secret store: {0}")]
    Secret(String),
    /// There is no such row.
    #[error("not found: {0}")]
    NotFound(String),
}
