//! Fenced locks on PostgreSQL ([`lock_step`](crate::lock::lock_step) in SQL): one row per key in
//! `queue_locks`, each operation one statement, so it is atomic whoever runs it.

use std::time::Duration;

use super::PostgresQueue;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::HeldLock;
use crate::validate::validate_lock;

impl PostgresQueue {
    pub(super) async fn take_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<HeldLock>, QueueError> {
        validate_lock(key, ttl)?;
        // Free when its deadline has passed (a released lock's is 0); the token grows either way.
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO queue_locks (key, token, expires_at) VALUES ($2, 1, queue_now($1) + $3)
             ON CONFLICT (key) DO UPDATE SET token = queue_locks.token + 1,
                 expires_at = excluded.expires_at
                 WHERE queue_locks.expires_at <= queue_now($1)
             RETURNING token",
        )
        .bind(self.now())
        .bind(key)
        .bind(duration_ms(ttl))
        .fetch_optional(&self.pool)
        .await?;
        Ok(token.map(|token| HeldLock {
            key: key.to_owned(),
            token,
        }))
    }

    pub(super) async fn renew_held_lock(
        &self,
        lock: &HeldLock,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        validate_lock(&lock.key, ttl)?;
        self.if_held(lock, Some(duration_ms(ttl))).await
    }

    pub(super) async fn release_lock(&self, lock: &HeldLock) -> Result<bool, QueueError> {
        validate_lock(&lock.key, Duration::from_millis(1))?;
        self.if_held(lock, None).await
    }

    /// Holds `lock` `ttl` ms from now, or releases it (`None`), if it still holds its key.
    async fn if_held(&self, lock: &HeldLock, ttl: Option<i64>) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE queue_locks SET expires_at = COALESCE(queue_now($1) + $2, 0)
             WHERE key = $3 AND token = $4 AND expires_at > queue_now($1)",
        )
        .bind(self.now())
        .bind(ttl)
        .bind(&lock.key)
        .bind(lock.token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn is_lock_held(&self, key: &str) -> Result<bool, QueueError> {
        validate_lock(key, Duration::from_millis(1))?;
        let held: Option<bool> =
            sqlx::query_scalar("SELECT expires_at > queue_now($1) FROM queue_locks WHERE key = $2")
                .bind(self.now())
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(held.unwrap_or(false))
    }
}
