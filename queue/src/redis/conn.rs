//! How the Redis backend reaches Redis: one server or a Redis Cluster, told apart at connect by
//! `INFO cluster`, so nothing more is configured. One server goes through a `ConnectionManager`
//! (reconnects after a restart); a cluster through redis-rs's cluster client, which follows
//! `MOVED`/`ASK`, retries `TRYAGAIN` and refreshes its slot map after a failover. Scripts are
//! called by SHA and reloaded on `NOSCRIPT` (a promoted replica has an empty script cache).
//! Blocking reads get connections of their own ([`Connector::blocking`]), never the shared
//! multiplexed one. Every round trip is counted, so tests can hold calls by id to one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};

use crate::error::QueueError;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reply may take (scripts are bounded; a failover takes a few seconds).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What makes connections: one server's client, or a cluster's.
#[derive(Clone)]
pub(super) enum Connector {
    Single(redis::Client),
    Cluster(Vec<String>),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Connector::Single",
            Self::Cluster(_) => "Connector::Cluster",
        })
    }
}

impl Connector {
    /// Reads `urls` (comma-separated seed nodes) and asks the first answering node whether it is
    /// part of a cluster.
    pub(super) async fn detect(urls: &str) -> Result<Self, QueueError> {
        let seeds: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if seeds.is_empty() {
            return Err(QueueError::Invalid("no Redis URL given".into()));
        }
        let mut last_error = None;
        for seed in &seeds {
            let client = redis::Client::open(seed.as_str())
                .map_err(|e| QueueError::Invalid(format!("bad Redis URL: {e}")))?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT));
            let info: redis::RedisResult<String> = async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                redis::cmd("INFO")
                    .arg("cluster")
                    .query_async(&mut conn)
                    .await
            }
            .await;
            match info {
                Ok(info) if info.lines().any(|l| l.trim() == "cluster_enabled:1") => {
                    return Ok(Self::Cluster(seeds));
                }
                Ok(_) if seeds.len() == 1 => return Ok(Self::Single(client)),
                Ok(_) => {
                    return Err(QueueError::Invalid(
                        "several Redis URLs are seed nodes of a cluster, but this server is not \
                         in cluster mode; give one URL"
                            .into(),
                    ));
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(QueueError::Storage(format!(
            "no Redis seed node answers: {}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// Whether this is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// The shared, multiplexed connection.
    pub(super) async fn shared(&self) -> Result<Conn, QueueError> {
        let inner = match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(3)
                    .set_max_delay(Duration::from_secs(2));
                Inner::Single(
                    client
                        .get_connection_manager_with_config(config)
                        .await
                        .map_err(storage)?,
                )
            }
            Self::Cluster(seeds) => Inner::Cluster(
                ClusterClient::builder(seeds.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .build()
                    .map_err(storage)?
                    .get_async_connection()
                    .await
                    .map_err(storage)?,
            ),
        };
        Ok(Conn {
            inner,
            round_trips: Arc::default(),
        })
    }

    /// A connection of its own for blocking reads (`BLPOP`), with no reply deadline: a blocked
    /// call holds its connection, so it must not be one others share.
    pub(super) async fn blocking(&self) -> redis::RedisResult<Conn> {
        let inner = match self {
            Self::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(None);
                Inner::Blocking(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Self::Cluster(seeds) => Inner::Cluster(
                ClusterClient::builder(seeds.iter().map(String::as_str))
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(Duration::from_secs(3600))
                    .build()?
                    .get_async_connection()
                    .await?,
            ),
        };
        Ok(Conn {
            inner,
            round_trips: Arc::default(),
        })
    }
}

/// One connection (or a cluster's set of them); clones share it and its round-trip count.
#[derive(Clone)]
pub struct Conn {
    inner: Inner,
    round_trips: Arc<AtomicU64>,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Blocking(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("round_trips", &self.round_trips())
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Round trips made so far through this connection and its clones.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Blocking(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match &mut self.inner {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Blocking(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(c) => c.get_db(),
            Inner::Blocking(c) => c.get_db(),
            Inner::Cluster(c) => c.get_db(),
        }
    }
}

/// Every text in a reply: one for a server, one per node for a command redis-rs sent to every
/// node of a cluster (`INFO`).
pub fn reply_texts(v: &Value) -> Vec<String> {
    match v {
        Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Value::VerbatimString { text, .. } => vec![text.clone()],
        Value::SimpleString(s) => vec![s.clone()],
        Value::Array(items) | Value::Set(items) => items.iter().flat_map(reply_texts).collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(_, v)| reply_texts(v)).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn storage(e: redis::RedisError) -> QueueError {
    QueueError::Storage(e.to_string())
}
