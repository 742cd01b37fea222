//! Redis for tests: the server and the cluster `dezky_test_services` finds (the
//! `DEZKY_TEST_REDIS_URL` and `DEZKY_TEST_REDIS_CLUSTER_URL` ones, else containers when a Docker
//! engine answers, else the local ones `scripts/test.sh` starts), a key prefix per test that is
//! deleted when the test ends, so tests run in parallel, and the contract harness on either.

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::contract::{Harness, HarnessConfig};
use crate::redis::{RedisQueue, RedisQueueConfig};

/// The test Redis (`DEZKY_TEST_REDIS_URL`, else a container or the local one: see
/// `dezky_test_services`).
pub fn redis_url() -> String {
    dezky_test_services::redis_url()
}

/// The test Redis Cluster's seed nodes, comma-separated (`DEZKY_TEST_REDIS_CLUSTER_URL`, else
/// a container or the local one `scripts/test.sh` starts).
pub fn redis_cluster_url() -> String {
    dezky_test_services::redis_cluster_url()
}

/// Whose time a harness's backend follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// The harness's manual clock, an explicit override (cases move it).
    Manual,
    /// The server's `TIME`, as in production (cases that never move the clock).
    Server,
}

/// The backend on the Redis (or cluster) at `url` under a fresh prefix, on server time, and the
/// guard that deletes its keys.
pub async fn queue_at(url: &str) -> (RedisQueue, PrefixGuard) {
    let (prefix, guard) = fresh_prefix_at(url);
    let config = RedisQueueConfig {
        prefix,
        ..Default::default()
    };
    (connect_at(url, config).await, guard)
}

async fn connect_at(url: &str, config: RedisQueueConfig) -> RedisQueue {
    RedisQueue::connect(url, config)
        .await
        .unwrap_or_else(|e| panic!("connect to the test Redis at {url}: {e}"))
}

/// A contract harness on the Redis (or cluster) at `url`, under a fresh prefix.
pub async fn harness_at(url: &str, time: Time, config: HarnessConfig) -> Harness {
    let (prefix, guard) = fresh_prefix_at(url);
    let clock = ManualClock::starting_now();
    let queue = connect_at(
        url,
        RedisQueueConfig {
            prefix,
            retry: config.retry,
            promote_limit: config.promote_limit,
            clock_override: (time == Time::Manual).then(|| Arc::new(clock.clone()) as _),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        queue.is_cluster(),
        url.contains(','),
        "{url} should be a cluster exactly when it lists several seed nodes"
    );
    Harness {
        queue: Arc::new(queue),
        clock,
        guard: Some(Box::new(guard)),
    }
}

/// A fresh prefix on the test Redis, and the guard that deletes its keys on drop.
pub fn fresh_prefix() -> (String, PrefixGuard) {
    fresh_prefix_at(&redis_url())
}

/// A fresh prefix on the Redis or cluster at `url`, and the guard that deletes its keys on drop.
pub fn fresh_prefix_at(url: &str) -> (String, PrefixGuard) {
    let prefix = format!("dzt-{}", ulid::Ulid::new().to_string().to_lowercase());
    (
        prefix.clone(),
        PrefixGuard {
            url: url.to_owned(),
            prefix,
        },
    )
}

/// A blocking connection to a server, or to a cluster when `url` lists several seed nodes
/// (`KEYS` then goes to every master and `DEL` is split by slot).
fn connect(url: &str) -> Option<Box<dyn redis::ConnectionLike>> {
    if url.contains(',') {
        let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
        let cluster = redis::cluster::ClusterClient::new(seeds).ok()?;
        Some(Box::new(cluster.get_connection().ok()?))
    } else {
        let client = redis::Client::open(url).ok()?;
        Some(Box::new(client.get_connection().ok()?))
    }
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
        let Some(mut conn) = connect(&self.url) else {
            return Vec::new();
        };
        let pattern = format!("{}:*", self.prefix);
        redis::cmd("KEYS")
            .arg(pattern)
            .query(conn.as_mut())
            .unwrap_or_default()
    }
}

impl Drop for PrefixGuard {
    fn drop(&mut self) {
        let keys = self.keys();
        if let Some(mut conn) = connect(&self.url) {
            for chunk in keys.chunks(1000) {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(chunk).query(conn.as_mut());
            }
        }
    }
}
