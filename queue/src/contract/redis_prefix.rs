//! Redis for tests: the server named by `DEZKY_TEST_REDIS_URL` (default the local one), and a
//! key prefix per test that is deleted when the test ends, so tests run in parallel.

/// The test Redis.
pub fn redis_url() -> String {
    std::env::var("DEZKY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh prefix, and the guard that deletes its keys on drop.
pub fn fresh_prefix() -> (String, PrefixGuard) {
    let prefix = format!("dzt-{}", ulid::Ulid::new().to_string().to_lowercase());
    (
        prefix.clone(),
        PrefixGuard {
            url: redis_url(),
            prefix,
        },
    )
}

/// Deletes every key under a prefix when dropped.
#[derive(Debug)]
pub struct PrefixGuard {
    url: String,
    prefix: String,
}

impl PrefixGuard {
    /// How many keys live under the prefix.
    pub fn key_count(&self) -> usize {
        self.keys().len()
    }

    fn keys(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return Vec::new();
        };
        let Ok(mut conn) = client.get_connection() else {
            return Vec::new();
        };
        let pattern = format!("{}:*", self.prefix);
        redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut conn)
            .unwrap_or_default()
    }
}

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        let keys = self.keys();
        if let Ok(client) = redis::Client::open(self.url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            for chunk in keys.chunks(1000) {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(&mut conn);
            }
        }
    }
}
