//! PostgreSQL for tests: the server `dezky_test_services` finds (`DEZKY_TEST_DATABASE_URL`, else
//! a container when a Docker engine answers, else the local one), a schema of each test's own
//! (dropped when its guard goes), so tests run in parallel on one database, and the contract
//! harness in such a schema.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;

use crate::clock::ManualClock;
use crate::contract::{Harness, HarnessConfig};
use crate::postgres::{PostgresQueue, PostgresQueueConfig};

/// The test PostgreSQL.
pub fn postgres_url() -> String {
    dezky_test_services::postgres_url()
}

/// Whose time a harness's backend follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// The harness's manual clock, an explicit override (cases move it).
    Manual,
    /// The database's, as in production (cases that never move the clock).
    Server,
}

/// A fresh schema on the test PostgreSQL, dropped with all it holds when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    /// Its name (`dzt_<ulid>`).
    pub name: String,
}

impl TestSchema {
    /// Creates the schema.
    pub async fn create() -> Self {
        let name = format!("dzt_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut admin = admin().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test schema");
        Self { name }
    }

    /// Connection options whose every table lives in the schema.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&postgres_url())
            .expect("DEZKY_TEST_DATABASE_URL")
            .options([("search_path", self.name.as_str())])
    }

    /// The same as a URL, for a process started with `DEZKY_DATABASE_URL`.
    pub fn url(&self) -> String {
        let url = postgres_url();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{}", self.name)
    }
}

async fn admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("connect to the test PostgreSQL (DEZKY_TEST_DATABASE_URL)")
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // A thread of its own with its own runtime: drop may run inside or outside one.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = admin().await;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// A contract harness in a fresh schema; `time` says whose clock the backend follows.
pub async fn harness_at(time: Time, config: HarnessConfig) -> Harness {
    let schema = TestSchema::create().await;
    let clock = ManualClock::starting_now();
    let queue = PostgresQueue::open_with(
        schema.options(),
        PostgresQueueConfig {
            retry: config.retry,
            promote_limit: config.promote_limit,
            connections: 4,
            clock_override: (time == Time::Manual).then(|| Arc::new(clock.clone()) as _),
            ..Default::default()
        },
    )
    .await
    .expect("open the PostgreSQL queue in a test schema");
    Harness {
        queue: Arc::new(queue.clone()),
        clock,
        guard: Some(Box::new(Closing {
            _queue: queue,
            _schema: schema,
        })),
    }
}

/// The queue, then its schema: fields drop in order, so the schema goes once the queue (its
/// pool and listener) is gone.
#[derive(Debug)]
struct Closing {
    _queue: PostgresQueue,
    _schema: TestSchema,
}
