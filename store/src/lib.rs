//! The store of Dezky Jobs: what the Authentik jobs are asked to bring about and what became of
//! it — tenants (desired state, each step's status, the Authentik ids they got), invitations
//! (status only: a recovery link or password never lands here) and the run history (a row per
//! attempt, written when it starts and completed when it ends) — and, sealed and for a limited
//! time, the secret parts of job results ([`secrets`]).
//!
//! SQLite by default (the queue's file when the queue is on SQLite), PostgreSQL in production;
//! the queue's migrator applies the store's migrations too (`migrations/sqlite`,
//! `migrations/postgres`). When the queue's tables are in the same database, [`StoreTx`] writes
//! both in one transaction. Both dialects run the same statements (`$1` placeholders, which
//! SQLite takes too) except where their JSON functions differ. Times are milliseconds since the
//! epoch, given by the caller.

mod audit;
mod error;
mod invitations;
mod runs;
mod schedules;
pub mod secrets;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;

pub use audit::AuditEntry;
pub use error::StoreError;
pub use invitations::Invitation;
pub use runs::Run;
pub use schedules::ScheduleRow;
pub use secrets::{SecretKeys, SecretVault};
pub use tenants::Tenant;
pub use tx::StoreTx;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

/// A connection pool to the store, on either database.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// Production.
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool the store has: `$pool` is bound to it.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
            Self::postgres(options).await?
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = dezky_queue::sqlite::while_busy(|| {
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options.clone())
            })
            .await?;
            dezky_queue::sqlite::migrate_sqlite(&pool, options.get_filename()).await?;
            Self::Sqlite(pool)
        } else {
            return Err(StoreError::Config(
                "the store URL must start with sqlite:// or postgres://".into(),
            ));
        };
        Ok(store)
    }

    /// Connects to PostgreSQL with `options` (a test's own schema, say) and migrates.
    pub async fn postgres(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        // The queue's migrator, which holds the store's migrations too (as on SQLite).
        dezky_queue::postgres::MIGRATOR.run(&pool).await?;
        Ok(Self::Postgres(pool))
    }

    /// Which database it is (`sqlite`, `postgres`).
    pub fn dialect(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}
