//! Fenced locks on Redis ([`lock_step`](crate::lock::lock_step) in Lua): one hash per key,
//! `<prefix>:lock:<key>`, each operation one script call on that one key (any slot: a lock
//! touches nothing else), on the server's time like leases.

use std::time::Duration;

use super::scripts::LOCK;
use super::{RedisQueue, storage};
use crate::clock::duration_ms;
use crate::error::QueueError;
use crate::model::HeldLock;
use crate::validate::validate_lock;

impl RedisQueue {
    /// Runs `op` on the lock `key`; answers the script's number.
    async fn lock_op(
        &self,
        key: &str,
        op: &str,
        ttl: Duration,
        token: i64,
    ) -> Result<i64, QueueError> {
        validate_lock(key, ttl)?;
        LOCK.key(format!("{}:lock:{key}", self.prefix()))
            .arg(self.now_arg())
            .arg(op)
            .arg(duration_ms(ttl))
            .arg(token)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(storage)
    }

    pub(super) async fn take_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<HeldLock>, QueueError> {
        let token = self.lock_op(key, "take", ttl, 0).await?;
        Ok((token > 0).then(|| HeldLock {
            key: key.to_owned(),
            token,
        }))
    }

    pub(super) async fn renew_held_lock(
        &self,
        lock: &HeldLock,
        ttl: Duration,
    ) -> Result<bool, QueueError> {
        Ok(self.lock_op(&lock.key, "renew", ttl, lock.token).await? == 1)
    }

    pub(super) async fn release_lock(&self, lock: &HeldLock) -> Result<bool, QueueError> {
        let ttl = Duration::from_millis(1);
        Ok(self.lock_op(&lock.key, "release", ttl, lock.token).await? == 1)
    }

    pub(super) async fn is_lock_held(&self, key: &str) -> Result<bool, QueueError> {
        let ttl = Duration::from_millis(1);
        Ok(self.lock_op(key, "peek", ttl, 0).await? == 1)
    }
}
