//! Fenced locks on SQLite ([`lock_step`](crate::lock::lock_step) in SQL): one row per key in
//! `queue_locks`, each operation one statement on the write connection, so it is atomic and
//! writers in other processes wait their turn.

use std::time::Duration;

use super::SqliteQueue;
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::HeldLock;
use crate::validate::validate_lock;

impl SqliteQueue {
    pub(super) async fn take_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<HeldLock>, QueueError> {
        validate_lock(key, ttl)?;
        let now = self.now();
        // Free when its deadline has passed (a released lock's is 0); the token grows either way.
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO queue_locks (key, token, expires_at) VALUES (?, 1, ?)
             ON CONFLICT (key) DO UPDATE SET token = token + 1, expires_at = excluded.expires_at
                 WHERE queue_locks.expires_at <= ?
             RETURNING token",
        )
        .bind(key)
        .bind(now.saturating_add(duration_ms(ttl)))
        .bind(now)
        .fetch_optional(&self.write)
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
        let now = self.now();
        self.if_held(lock, now, now.saturating_add(duration_ms(ttl)))
            .await
    }

    pub(super) async fn release_lock(&self, lock: &HeldLock) -> Result<bool, QueueError> {
        validate_lock(&lock.key, Duration::from_millis(1))?;
        self.if_held(lock, self.now(), 0).await
    }

    /// Sets the deadline of `lock` to `until` if it still holds its key at `now`.
    async fn if_held(&self, lock: &HeldLock, now: i64, until: i64) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE queue_locks SET expires_at = ? WHERE key = ? AND token = ? AND expires_at > ?",
        )
        .bind(until)
        .bind(&lock.key)
        .bind(lock.token)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn is_lock_held(&self, key: &str) -> Result<bool, QueueError> {
        validate_lock(key, Duration::from_millis(1))?;
        let held: Option<bool> =
            sqlx::query_scalar("SELECT expires_at > ? FROM queue_locks WHERE key = ?")
                .bind(self.now())
                .bind(key)
                .fetch_optional(&self.read)
                .await?;
        Ok(held.unwrap_or(false))
    }
}
