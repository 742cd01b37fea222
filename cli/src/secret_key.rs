//! Where the key that seals secret results comes from: `DEZKY_SECRET_KEY` (with
//! `DEZKY_SECRET_KEYS_OLD` for rotation); unset on the embedded SQLite default, a key generated
//! once into a file beside the database (`<db>.secret-key`, mode 0600), with a warning; required
//! with a PostgreSQL store, where processes share no disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use dezky_store::SecretKeys;

/// How secret results are sealed and kept.
#[derive(Clone)]
pub struct SecretSettings {
    /// The current key (64 hex characters), if given.
    pub key: Option<String>,
    /// Old keys still accepted for opening.
    pub old: Vec<String>,
    /// How long a secret is kept after its job ended.
    pub ttl: Duration,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSettings")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("old", &self.old.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Default for SecretSettings {
    /// No key given, old keys none, an hour to live.
    fn default() -> Self {
        Self {
            key: None,
            old: Vec::new(),
            ttl: Duration::from_secs(3600),
        }
    }
}

impl SecretSettings {
    /// The keys, for a store at `store_url`.
    pub fn keys(&self, store_url: &str) -> anyhow::Result<SecretKeys> {
        let old: Vec<&str> = self.old.iter().map(String::as_str).collect();
        let current = match &self.key {
            Some(key) => key.clone(),
            None => match sqlite_file(store_url) {
                Some(db) => key_file(&db)?,
                None if store_url.starts_with("sqlite:") => {
                    tracing::warn!(
                        "DEZKY_SECRET_KEY is not set and the database is in memory: secret results \
                         are sealed under a key that dies with this process"
                    );
                    SecretKeys::generate_hex()
                }
                None => bail!(
                    "DEZKY_SECRET_KEY is required with a PostgreSQL store: 32 random bytes as 64 \
                     hex characters (e.g. `openssl rand -hex 32`), the same in every process"
                ),
            },
        };
        SecretKeys::from_hex(&current, &old)
            .map_err(|e| anyhow::anyhow!("DEZKY_SECRET_KEY / DEZKY_SECRET_KEYS_OLD: {e}"))
    }
}

/// The database file a `sqlite:` URL names (none in memory).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

/// The key in `<db>.secret-key`, generated (mode 0600) if the file does not exist. Processes
/// starting together agree: the file appears whole or not at all (written aside, then linked).
fn key_file(db: &Path) -> anyhow::Result<String> {
    let mut path = db.as_os_str().to_owned();
    path.push(".secret-key");
    let path = PathBuf::from(path);
    if !path.exists() {
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".{}", std::process::id()));
        let aside = PathBuf::from(aside);
        let mut file = open_private(&aside)
            .with_context(|| format!("cannot write a secret key to {}", aside.display()))?;
        file.write_all(SecretKeys::generate_hex().as_bytes())?;
        file.sync_all()?;
        drop(file);
        let linked = std::fs::hard_link(&aside, &path);
        let _ = std::fs::remove_file(&aside);
        match linked {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "DEZKY_SECRET_KEY is not set: generated a key for secret results beside the \
                 database; keep it with the database (secrets cannot be read without it), and set \
                 DEZKY_SECRET_KEY in production"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", path.display()));
            }
        }
    }
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("q.db").display());
        let settings = SecretSettings {
            key: None,
            old: vec![],
            ttl: Duration::from_secs(1),
        };
        settings.keys(&url).unwrap();
        let file = dir.path().join("q.db.secret-key");
        let first = std::fs::read_to_string(&file).unwrap();
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        settings.keys(&url).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), first, "kept");
    }

    #[test]
    fn postgres_needs_a_key_and_keys_must_be_hex() {
        let mut settings = SecretSettings {
            key: None,
            old: vec![],
            ttl: Duration::from_secs(1),
        };
        let e = settings.keys("postgres://x/y").unwrap_err().to_string();
        assert!(e.contains("DEZKY_SECRET_KEY is required"), "{e}");
        settings.key = Some("abc".into());
        let e = settings.keys("postgres://x/y").unwrap_err().to_string();
        assert!(e.contains("64 hex characters"), "{e}");
        settings.key = Some("ab".repeat(32));
        settings.keys("postgres://x/y").unwrap();
    }
}
