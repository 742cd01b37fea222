//! Redis instrumentation for `bench`: server-wide command counts from `INFO commandstats`
//! (commands run inside scripts included, as Redis counts them; on a cluster, summed over the
//! masters) and the keys under a prefix.

use std::collections::HashMap;

use dezky_queue::redis::{RedisConnection, reply_texts};
use redis::Value;

/// Calls per command, as `INFO commandstats` reports them (summed over a cluster's masters:
/// redis-rs sends `INFO` to each and answers one reply per node).
pub async fn command_calls(conn: &mut RedisConnection) -> anyhow::Result<HashMap<String, u64>> {
    let info: Value = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    let mut calls = HashMap::new();
    for text in reply_texts(&info) {
        for line in text.lines() {
            let Some((name, n)) = parse_line(line) else {
                continue;
            };
            *calls.entry(name).or_insert(0) += n;
        }
    }
    Ok(calls)
}

fn parse_line(line: &str) -> Option<(String, u64)> {
    let rest = line.strip_prefix("cmdstat_")?;
    let (name, stats) = rest.split_once(':')?;
    let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
    Some((name.to_owned(), calls.parse().ok()?))
}

/// Commands run between two snapshots, less the `INFO`s that took them.
pub fn commands_between(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
    after
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .map(|(k, v)| v.saturating_sub(before.get(k).copied().unwrap_or(0)))
        .sum()
}

/// Every key under `prefix`: `KEYS`, which redis-rs sends to every master of a cluster (`SCAN`
/// would see one node). For benchmarks' clean-up only, never the queue's path: it blocks each
/// server while it walks its keys, so do not bench against a busy production Redis.
pub async fn keys_under(conn: &mut RedisConnection, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(conn)
        .await?)
}
