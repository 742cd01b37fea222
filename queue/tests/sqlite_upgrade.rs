//! Upgrades of an existing queue file. One made before dedup keys had their own table keeps its
//! keys (a job pushed with a key under the first schema still answers that key); one made before
//! the count triggers gets its counts backfilled.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::str::FromStr;
use std::time::Duration;

use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{Clock, Dedup, JobState, NewJob, QueueBackend, SystemClock};
use sqlx::sqlite::SqliteConnectOptions;

/// A database at `url` with only the named migrations applied, as an older release left it.
async fn database_with(url: &str, migrations: &[&str]) -> sqlx::SqlitePool {
    let dir = tempfile::tempdir().unwrap();
    for name in migrations {
        std::fs::copy(
            format!("{}/../migrations/sqlite/{name}", env!("CARGO_MANIFEST_DIR")),
            dir.path().join(name),
        )
        .unwrap();
    }
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

#[tokio::test]
async fn dedup_keys_survive_the_upgrade_to_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());

    // The first schema only, as an older release left it, with one keyed job.
    let pool = database_with(&url, &["20261128000001_queue.sql"]).await;
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

/// A queue file made before counts were kept by triggers gets them backfilled: `counts` after the
/// upgrade reports the jobs the file already held, and keeps counting from there.
#[tokio::test]
async fn counts_are_backfilled_by_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());

    // The schema before the counters, with jobs in three states over two queues.
    let pool = database_with(
        &url,
        &["20261128000001_queue.sql", "20261129000001_dedup_keys.sql"],
    )
    .await;
    let now = SystemClock.now_ms();
    for (n, (queue, state)) in [
        ("a", "available"),
        ("a", "available"),
        ("a", "dead"),
        ("b", "scheduled"),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO queue_jobs (id, queue, kind, args, state, run_at, max_attempts, created_at)
             VALUES (?, ?, ?, '{}', ?, ?, 3, ?)",
        )
        .bind(format!("01J0000000000000000000000{n}"))
        .bind(queue)
        .bind(queue)
        .bind(state)
        .bind(now)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let queue = SqliteQueue::open_default(&url).await.unwrap();
    let counts = queue.counts().await.unwrap();
    let of = |q: &str, s: JobState| counts.iter().find(|c| c.queue == q).map_or(0, |c| c.get(s));
    assert_eq!(of("a", JobState::Available), 2);
    assert_eq!(of("a", JobState::Dead), 1);
    assert_eq!(of("b", JobState::Scheduled), 1);

    // And the triggers carry on from the backfilled numbers.
    queue
        .push(NewJob::new("a", serde_json::json!({})))
        .await
        .unwrap();
    let counts = queue.counts().await.unwrap();
    let a = counts.iter().find(|c| c.queue == "a").unwrap();
    assert_eq!(a.get(JobState::Available), 3);
}
