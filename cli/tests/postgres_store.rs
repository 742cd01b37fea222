//! The store on PostgreSQL: `dezky-jobs run` with a `postgres://` DEZKY_DATABASE_URL and the
//! queue on Redis starts, migrates the store into the real PostgreSQL of
//! `DEZKY_TEST_DATABASE_URL` (a schema of this test's own) and runs a job; without
//! DEZKY_REDIS_URL it keeps the queue in that database too and runs a job there; a PostgreSQL
//! queue with a SQLite store, or a PostgreSQL store without DEZKY_SECRET_KEY, refuses to start
//! and says why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{Process, enqueue_at, free_port, job_at, poll_until, start_binary, wait_ready};
use dezky_queue::contract::redis_prefix::{fresh_prefix, redis_url};
use dezky_store::testing::{TestSchema, postgres_url};
use serde_json::json;

/// Starts `run` with `env`, enqueues an `echo` and waits until it succeeded; answers its id once
/// the process is gone.
async fn echo_succeeds(env: &[(&str, String)]) -> dezky_queue::JobId {
    let (port, client) = (free_port(), common::http());
    let _process = Process(start_binary(port, env));
    assert!(
        wait_ready(&client, port).await,
        "the process did not come up"
    );
    let id = enqueue_at(&client, port, json!({"kind": "echo"})).await;
    assert!(
        poll_until(Duration::from_secs(10), || async {
            job_at(&client, port, &id.0).await["state"] == "succeeded"
        })
        .await
    );
    id
}

/// A pool on the test database, outside any test's schema.
async fn admin() -> sqlx::PgPool {
    sqlx::PgPool::connect(&postgres_url()).await.unwrap()
}

#[tokio::test]
async fn run_starts_with_the_store_on_postgres_and_the_queue_on_redis() {
    let schema = TestSchema::create().await;
    let (prefix, _guard) = fresh_prefix();
    let env = [
        ("DEZKY_DATABASE_URL", schema.url()),
        ("DEZKY_REDIS_URL", redis_url()),
        ("DEZKY_REDIS_PREFIX", prefix),
        ("DEZKY_SECRET_KEY", "5e".repeat(32)),
    ];
    echo_succeeds(&env).await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'store_%'",
    )
    .bind(&schema.name)
    .fetch_one(&admin().await)
    .await
    .unwrap();
    assert_eq!(tables, 6, "the store's tables are in the test's schema");
}

#[tokio::test]
async fn without_redis_the_queue_is_in_the_postgres_store_too() {
    let schema = TestSchema::create().await;
    let env = [
        ("DEZKY_DATABASE_URL", schema.url()),
        ("DEZKY_SECRET_KEY", "5e".repeat(32)),
    ];
    let id = echo_succeeds(&env).await;
    let state: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT state FROM {}.queue_jobs WHERE id = $1",
        schema.name
    )))
    .bind(&id.0)
    .fetch_one(&admin().await)
    .await
    .unwrap();
    assert_eq!(state, "succeeded", "the job is in the test's schema");
}

#[test]
fn a_postgres_queue_with_a_sqlite_store_says_why_it_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .arg("migrate")
        .env("DEZKY_QUEUE", "postgres")
        .env(
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("jobs.db").display()),
        )
        .env_remove("DEZKY_REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEZKY_QUEUE=postgres"), "{stderr}");
    assert!(
        !dir.path().join("jobs.db").exists(),
        "refused before anything was created"
    );
}

#[test]
fn a_postgres_store_without_a_secret_key_says_why_it_cannot_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .arg("worker")
        .env("DEZKY_DATABASE_URL", postgres_url())
        .env("DEZKY_REDIS_URL", redis_url())
        .env_remove("DEZKY_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DEZKY_SECRET_KEY is required with a PostgreSQL store"),
        "{stderr}"
    );
}
