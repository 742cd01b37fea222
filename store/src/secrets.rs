//! Secret parts of job results (a recovery link, a temporary password, a client secret): sealed
//! with XChaCha20-Poly1305 under the deployment's key before they are stored, the job's id bound
//! in as associated data (a sealed secret moved to another job does not open), and erased a
//! fixed time after the job ended. Reads past that time find nothing even before the erasure
//! runs. Keys rotate: secrets open under the current key or any old one
//! (`DEZKY_SECRET_KEYS_OLD`); new ones are sealed under the current key.

use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use dezky_queue::Clock;
use sha2::Digest;

use crate::tx::{Exec, StoreTx, on_exec};
use crate::{Store, StoreError, on_pool};

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce, stored before the ciphertext.
const NONCE_LEN: usize = 24;

/// The keys secrets are sealed and opened with. `Debug` shows none of them.
#[derive(Clone)]
pub struct SecretKeys {
    current: XChaCha20Poly1305,
    old: Vec<XChaCha20Poly1305>,
    /// A digest of the current key that other keys are derived from (the dashboard's session
    /// key), so every process with the same key derives the same ones.
    root: [u8; 32],
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeys")
            .field("old", &self.old.len())
            .finish_non_exhaustive()
    }
}

impl SecretKeys {
    /// Keys from 64-hex-character strings: the current one and any old ones.
    pub fn from_hex(current: &str, old: &[&str]) -> Result<Self, StoreError> {
        let root = sha2::Sha256::new()
            .chain_update(b"dezky-jobs derived keys v1\0")
            .chain_update(current.trim().to_ascii_lowercase().as_bytes())
            .finalize()
            .into();
        Ok(Self {
            current: cipher(current)?,
            old: old.iter().map(|k| cipher(k)).collect::<Result<_, _>>()?,
            root,
        })
    }

    /// A key for `purpose` (e.g. signing dashboard sessions), derived from the current key: the
    /// same in every process that has it, and telling nothing of it.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        sha2::Sha256::new()
            .chain_update(self.root)
            .chain_update(purpose.as_bytes())
            .finalize()
            .into()
    }

    /// A fresh random key, as 64 hex characters.
    pub fn generate_hex() -> String {
        hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    fn seal(&self, job_id: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: job_id.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Secret("cannot seal the secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, job_id: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE_LEN {
            return Err(StoreError::Secret("a sealed secret is truncated".into()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| StoreError::Secret("a sealed secret's nonce is damaged".into()))?;
        let nonce = XNonce::from(nonce);
        std::iter::once(&self.current)
            .chain(&self.old)
            .find_map(|key| {
                key.decrypt(&nonce, Payload { msg: ciphertext, aad: job_id.as_bytes() })
                    .ok()
            })
            .ok_or_else(|| {
                StoreError::Secret(
                    "a secret opens under no configured key (DEZKY_SECRET_KEY, DEZKY_SECRET_KEYS_OLD)"
                        .into(),
                )
            })
    }
}

fn cipher(hex_key: &str) -> Result<XChaCha20Poly1305, StoreError> {
    let bytes = hex::decode(hex_key.trim())
        .ok()
        .filter(|b| b.len() == KEY_LEN)
        .ok_or_else(|| {
            StoreError::Config("a secret key must be 32 bytes written as 64 hex characters".into())
        })?;
    XChaCha20Poly1305::new_from_slice(&bytes)
        .map_err(|_| StoreError::Config("a secret key must be 32 bytes".into()))
}

/// Where secret results are kept, sealed, for `ttl` after their job ended. Cheap to clone.
#[derive(Clone)]
pub struct SecretVault {
    store: Store,
    keys: Arc<SecretKeys>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SecretVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVault")
            .field("store", &self.store.dialect())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretVault {
    /// A vault in `store`, sealing with `keys`, keeping secrets `ttl` after their job ended.
    pub fn new(store: Store, keys: SecretKeys, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            keys: Arc::new(keys),
            ttl,
            clock,
        }
    }

    /// A key for `purpose`, derived from the current secret key ([`SecretKeys::derive`]).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.keys.derive(purpose)
    }

    /// How long a secret is kept after its job ended.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Seals `secret` as job `job_id`'s (replacing an earlier attempt's), kept `ttl` from now:
    /// call it as the job ends.
    pub async fn seal(&self, job_id: &str, secret: &serde_json::Value) -> Result<(), StoreError> {
        self.seal_on(Exec::Pool(&self.store), job_id, secret).await
    }

    /// [`seal`](Self::seal), in `tx` (the job's completion in the same transaction).
    pub async fn seal_in(
        &self,
        tx: &mut StoreTx,
        job_id: &str,
        secret: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.seal_on(tx.exec(), job_id, secret).await
    }

    async fn seal_on(
        &self,
        exec: Exec<'_>,
        job_id: &str,
        secret: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let plain = serde_json::to_vec(secret)
            .map_err(|e| StoreError::Secret(format!("cannot encode the secret: {e}")))?;
        let sealed = self.keys.seal(job_id, &plain)?;
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.clock.now_ms().saturating_add(ttl_ms);
        on_exec!(exec, |e| {
            sqlx::query(
                "INSERT INTO store_secrets (job_id, sealed, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (job_id) DO UPDATE SET sealed = excluded.sealed,
                     expires_at = excluded.expires_at",
            )
            .bind(job_id)
            .bind(&sealed)
            .bind(expires_at)
            .execute(e)
            .await?;
        });
        Ok(())
    }

    /// The store the secrets are sealed in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Job `job_id`'s secret, opened, while it is kept.
    pub async fn open(&self, job_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let Some(sealed) = self.sealed(job_id).await? else {
            return Ok(None);
        };
        let plain = self.keys.open(job_id, &sealed)?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| StoreError::Secret(format!("a secret does not decode: {e}")))
    }

    /// Whether job `job_id` has a secret kept (without opening it: what ops are told).
    pub async fn holds(&self, job_id: &str) -> Result<bool, StoreError> {
        Ok(self.sealed(job_id).await?.is_some())
    }

    async fn sealed(&self, job_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now_ms();
        Ok(on_pool!(&self.store, |pool| {
            sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT sealed FROM store_secrets WHERE job_id = $1 AND expires_at > $2",
            )
            .bind(job_id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Erases the secrets whose time is up; answers how many.
    pub async fn erase_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        Ok(on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM store_secrets WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// How many secrets are stored, expired or not (for tests of the erasure).
    pub async fn stored(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(&self.store, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM store_secrets")
                .fetch_one(pool)
                .await?
        }))
    }
}
