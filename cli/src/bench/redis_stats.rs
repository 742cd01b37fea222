//! Redis instrumentation for `bench`: server-wide command counts from `INFO commandstats`
//! (commands run inside scripts included, as Redis counts them) and the keys under a prefix.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;

/// Calls per command, as `INFO commandstats` reports them.
pub async fn command_calls(
    conn: &mut MultiplexedConnection,
) -> anyhow::Result<HashMap<String, u64>> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(info
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect())
}

/// Commands run between two snapshots, less the `INFO` that took the first one.
pub fn commands_between(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
    let total: u64 = after
        .iter()
        .map(|(k, v)| v.saturating_sub(before.get(k).copied().unwrap_or(0)))
        .sum();
    total.saturating_sub(1)
}

/// Every key under `prefix` (a `SCAN`: for benchmarks and clean-up only, never the queue's path).
pub async fn keys_under(
    conn: &mut MultiplexedConnection,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}
