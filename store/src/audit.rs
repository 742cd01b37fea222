//! The audit of operators' actions from the dashboard: who (the ops token's name) did what to
//! which job, queue or schedule, and when. Append-only.

use crate::{Store, StoreError, on_pool};

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// When, ms since the epoch.
    pub at: i64,
    /// The ops token's name.
    pub actor: String,
    /// What was done (`retry`, `discard`, `cancel`, `delete`, `pause`, `resume`, `bulk-retry`,
    /// `bulk-delete`, `run-now`).
    pub action: String,
    /// A job id, `queue:<name>` or `schedule:<name>`.
    pub target: String,
    /// What came of it, for people (never a secret).
    pub detail: String,
}

const COLUMNS: &str = "at, actor, action, target, detail";

impl Store {
    /// Appends `entry`.
    pub async fn record_action(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO store_audit (at, actor, action, target, detail)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(&entry.detail)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The newest `limit` actions whose target starts with `prefix` (a job id, `schedule:`, or
    /// `""` for all), newest first.
    pub async fn actions(&self, prefix: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM store_audit WHERE substr(target, 1, length($1)) = $1
             ORDER BY id DESC LIMIT $2"
        );
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, AuditEntry>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(prefix)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }))
    }
}
