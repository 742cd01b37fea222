//! What a handler answers when it succeeds: its result, and the part of it that is secret (a
//! recovery link, a temporary password, a client secret). The worker stores the secret part
//! encrypted and apart from the job; only the caller that enqueued the job reads it back, for a
//! limited time, and it never reaches lists, logs or errors. It may also carry store writes that
//! stand only if the attempt succeeds: when the queue is in the store's database they commit in
//! the transaction that records the success (with the secret and the children); elsewhere they
//! are written just before it.

use dezky_store::{Store, StoreError, StoreTx};

/// A successful attempt's answer.
#[derive(Default)]
pub struct Output {
    /// The result everyone allowed to see the job sees.
    pub result: serde_json::Value,
    /// The secret part, if any.
    pub secret: Option<serde_json::Value>,
    /// Store writes that go with the success.
    pub writes: Vec<StoreWrite>,
}

/// A store write that goes with an attempt's success.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreWrite {
    /// Tenant `slug`'s record of `step` ([`Store::record_step`], without an Authentik id).
    Step {
        /// The tenant.
        slug: String,
        /// The step.
        step: String,
        /// Its record.
        record: serde_json::Value,
    },
}

impl StoreWrite {
    /// Writes it on its own.
    pub async fn apply(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        match self {
            StoreWrite::Step { slug, step, record } => {
                store.record_step(slug, step, record, None, now).await?;
            }
        }
        Ok(())
    }

    /// Writes it in `tx`.
    pub async fn apply_in(&self, tx: &mut StoreTx, now: i64) -> Result<(), StoreError> {
        match self {
            StoreWrite::Step { slug, step, record } => {
                tx.record_step(slug, step, record, None, now).await?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("result", &self.result)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("writes", &self.writes)
            .finish()
    }
}

impl Output {
    /// A result with a secret part.
    pub fn with_secret(result: serde_json::Value, secret: serde_json::Value) -> Self {
        Self {
            result,
            secret: Some(secret),
            writes: Vec::new(),
        }
    }

    /// Whether recording the success writes to the store too (a secret part, store writes).
    pub fn writes_store(&self) -> bool {
        self.secret.is_some() || !self.writes.is_empty()
    }

    /// The same, with `write` made if (and only if) the success is recorded.
    pub fn with_write(mut self, write: StoreWrite) -> Self {
        self.writes.push(write);
        self
    }
}

impl From<serde_json::Value> for Output {
    fn from(result: serde_json::Value) -> Self {
        Self {
            result,
            secret: None,
            writes: Vec::new(),
        }
    }
}
