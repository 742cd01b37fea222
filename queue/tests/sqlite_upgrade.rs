//! A queue file made before dedup keys had their own table keeps its keys after the upgrade: a
//! job pushed with a key under the first schema still answers that key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::str::FromStr;
use std::time::Duration;

use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{Clock, Dedup, NewJob, QueueBackend, SystemClock};
use sqlx::sqlite::SqliteConnectOptions;

#[tokio::test]
async fn dedup_keys_survive_the_upgrade_to_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());

    // The first schema only, as an older release left it, with one keyed job.
    let first = tempfile::tempdir().unwrap();
    let name = "20261128000001_queue.sql";
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../migrations/sqlite/20261128000001_queue.sql"
        ),
        first.path().join(name),
    )
    .unwrap();
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(first.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let now = SystemClock.now_ms();
    sqlx::query(
        "INSERT INTO queue_jobs (id, queue, kind, args, state, run_at, max_attempts, dedup_key,
             dedup_until, dedup_fingerprint, created_at)
         VALUES ('01J00000000000000000000001', 'q', 'q', '{}', 'available', ?, 3, 'k', ?, 'fp', ?)",
    )
    .bind(now)
    .bind(now + 3_600_000)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let queue = SqliteQueue::open_default(&url).await.unwrap();
    let again = queue
        .push(NewJob {
            dedup: Some(Dedup {
                key: "k".into(),
                window: Duration::from_secs(60),
                fingerprint: Some("other".into()),
            }),
            ..NewJob::new("q", serde_json::json!({}))
        })
        .await
        .unwrap();
    assert!(again.duplicate, "the key was lost in the upgrade");
    assert_eq!(again.id.as_str(), "01J00000000000000000000001");
    assert_eq!(again.existing_fingerprint.as_deref(), Some("fp"));
}
