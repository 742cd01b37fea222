//! What `bench` measures against: a throwaway SQLite file, a throwaway key prefix on the Redis
//! (or Redis Cluster) of `DEZKY_REDIS_URL`, or a throwaway schema in the PostgreSQL database of
//! `DEZKY_DATABASE_URL` (each deleted afterwards) — never the configured store's tables.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dezky_queue::postgres::{PostgresQueue, PostgresQueueConfig};
use dezky_queue::redis::{RedisConnection, RedisQueue, RedisQueueConfig};
use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig};
use dezky_queue::{DynQueue, RetryPolicy, SystemClock};

use crate::config::BenchBackend;

/// BullMQ's retry mode backs off 10 ms exponentially; ours: full jitter under the same ceiling.
const RETRY: RetryPolicy = RetryPolicy {
    base: Duration::from_millis(10),
    cap: Duration::from_secs(1),
};

/// An open benchmark queue and how to clean up after it.
pub struct Target {
    /// The queue.
    pub queue: DynQueue,
    /// A connection to the Redis server or cluster, and the prefix, for instrumentation and
    /// clean-up.
    pub redis: Option<(RedisConnection, String)>,
    sqlite: Option<(SqliteQueue, tempfile::TempDir)>,
    /// The PostgreSQL queue, and a connection outside its schema that drops the schema.
    postgres: Option<(PostgresQueue, sqlx::PgPool, String)>,
}

/// Where the benchmark may make its throwaway queue.
#[derive(Debug)]
pub struct Where<'a> {
    /// `DEZKY_REDIS_URL`, for `--backend redis`.
    pub redis_url: Option<&'a str>,
    /// `DEZKY_DATABASE_URL`, for `--backend postgres`.
    pub database_url: &'a str,
}

impl Target {
    /// Opens a throwaway queue on `backend`.
    pub async fn open(backend: BenchBackend, at: &Where<'_>) -> anyhow::Result<Self> {
        match backend {
            BenchBackend::Sqlite => {
                let dir = tempfile::tempdir()
                    .context("creating a temp dir for the benchmark database")?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                let config = SqliteQueueConfig {
                    retry: RETRY,
                    ..Default::default()
                };
                let sqlite = SqliteQueue::open(&url, Arc::new(SystemClock), config).await?;
                Ok(Self {
                    queue: Arc::new(sqlite.clone()),
                    redis: None,
                    sqlite: Some((sqlite, dir)),
                    postgres: None,
                })
            }
            BenchBackend::Redis => {
                let url = at.redis_url.unwrap_or("redis://127.0.0.1:6379");
                let prefix = format!("dezky-bench-{}", std::process::id());
                let config = RedisQueueConfig {
                    prefix: prefix.clone(),
                    retry: RETRY,
                    ..Default::default()
                };
                let queue = RedisQueue::connect(url, config).await?;
                let conn = queue.connection();
                Ok(Self {
                    queue: Arc::new(queue),
                    redis: Some((conn, prefix)),
                    sqlite: None,
                    postgres: None,
                })
            }
            BenchBackend::Postgres => {
                let url = at.database_url.trim();
                if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                    anyhow::bail!("--backend postgres needs a postgres:// DEZKY_DATABASE_URL");
                }
                let options: sqlx::postgres::PgConnectOptions =
                    url.parse().context("DEZKY_DATABASE_URL")?;
                let admin = sqlx::PgPool::connect_with(options.clone())
                    .await
                    .context("connecting to DEZKY_DATABASE_URL")?;
                let schema = format!("dezky_bench_{}", std::process::id());
                for sql in [
                    format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                    format!("CREATE SCHEMA {schema}"),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&admin)
                        .await
                        .context("creating the benchmark's schema")?;
                }
                let config = PostgresQueueConfig {
                    retry: RETRY,
                    ..Default::default()
                };
                let queue = PostgresQueue::open_with(
                    options.options([("search_path", schema.as_str())]),
                    config,
                )
                .await?;
                Ok(Self {
                    queue: Arc::new(queue.clone()),
                    redis: None,
                    sqlite: None,
                    postgres: Some((queue, admin, schema)),
                })
            }
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &'static str {
        self.queue.name()
    }

    /// Closes the queue and deletes what the benchmark left.
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Some((sqlite, _dir)) = self.sqlite {
            sqlite.close().await;
        }
        if let Some((queue, admin, schema)) = self.postgres {
            queue.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .context("dropping the benchmark's schema")?;
            admin.close().await;
        }
        if let Some((mut conn, prefix)) = self.redis {
            let keys = super::redis_stats::keys_under(&mut conn, &prefix).await?;
            // DEL of keys on several slots: redis-rs splits it by slot on a cluster.
            for chunk in keys.chunks(1000) {
                redis::cmd("DEL")
                    .arg(chunk)
                    .query_async::<i64>(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }
}
