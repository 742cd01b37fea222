//! SQLite group commit: concurrent writes share transactions, one failing request is rolled back
//! alone, a caller that stops waiting does not undo its write, and a closed queue refuses writes.
//!
//! To make a group deterministic, a second connection holds the write lock (`BEGIN IMMEDIATE`)
//! while the requests are sent: the writer's first transaction waits on the busy timeout, the
//! rest queue up behind it, and once the lock is let go they form the next group.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig, WriteStats};
use dezky_queue::{Dedup, JobFilter, NewJob, QueueBackend, QueueError, SystemClock};
use futures::future::join_all;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

struct Fixture {
    queue: SqliteQueue,
    stats: Arc<WriteStats>,
    url: String,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let stats = Arc::new(WriteStats::default());
    let queue = SqliteQueue::open(
        &url,
        Arc::new(SystemClock),
        SqliteQueueConfig {
            write_stats: stats.clone(),
            busy_timeout: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Fixture {
        queue,
        stats,
        url,
        _dir: dir,
    }
}

impl Fixture {
    /// Another connection to the file, as another process would have.
    async fn other_connection(&self) -> SqliteConnection {
        SqliteConnection::connect_with(&SqliteConnectOptions::from_str(&self.url).unwrap())
            .await
            .unwrap()
    }

    async fn jobs_of_kind(&self, kind: &str) -> usize {
        self.queue
            .list(JobFilter {
                kind: Some(kind.into()),
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .jobs
            .len()
    }
}

/// Runs `futures` (writes) while another connection holds the write lock: every one is sent to
/// the writer before the lock is let go.
async fn with_lock_held<F: Future + Unpin>(
    blocker: &mut SqliteConnection,
    futures: F,
) -> F::Output {
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let mut futures = futures;
    // One poll sends every request; none can be answered while the lock is held.
    assert!(futures::poll!(&mut futures).is_pending());
    sqlx::query("COMMIT").execute(&mut *blocker).await.unwrap();
    futures.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_share_transactions_and_all_land() {
    let f = fixture().await;
    let mut blocker = f.other_connection().await;
    let pushes = join_all((0..50).map(|n| {
        f.queue
            .push(NewJob::new("shared", serde_json::json!({ "n": n })))
    }));
    let pushed = with_lock_held(&mut blocker, pushes).await;
    let ids: std::collections::HashSet<_> = pushed.into_iter().map(|p| p.unwrap().id).collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(f.stats.requests(), 50);
    // The first request may have been taken alone before the others arrived; the other 49
    // share one transaction.
    assert!(
        f.stats.transactions() <= 2,
        "50 pushes took {} transactions",
        f.stats.transactions()
    );
    assert_eq!(f.jobs_of_kind("shared").await, 50);
    let counts = f.queue.counts().await.unwrap();
    assert_eq!(counts[0].get(dezky_queue::JobState::Available), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pushes_of_one_dedup_key_in_one_group_make_one_job() {
    let f = fixture().await;
    let mut blocker = f.other_connection().await;
    let keyed = || NewJob {
        dedup: Some(Dedup {
            key: "k".into(),
            window: Duration::from_secs(60),
            fingerprint: None,
        }),
        ..NewJob::new("keyed", serde_json::json!({}))
    };
    let pushes = join_all([
        f.queue.push(NewJob::new("plug", serde_json::json!({}))),
        f.queue.push(keyed()),
        f.queue.push(keyed()),
    ]);
    let pushed: Vec<_> = with_lock_held(&mut blocker, pushes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(f.stats.transactions() <= 2);
    assert!(!pushed[1].duplicate && pushed[2].duplicate);
    assert_eq!(pushed[1].id, pushed[2].id);
    assert_eq!(f.jobs_of_kind("keyed").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_is_rolled_back_alone() {
    let f = fixture().await;
    let mut blocker = f.other_connection().await;
    // A job SQLite refuses to insert: the statement fails, the transaction goes on.
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON queue_jobs WHEN NEW.kind = 'poison'
         BEGIN SELECT RAISE(ABORT, 'poisoned job'); END",
    )
    .execute(&mut blocker)
    .await
    .unwrap();

    // Alone, it fails and writes nothing.
    let alone = f
        .queue
        .push(NewJob::new("poison", serde_json::json!({})))
        .await;
    assert!(matches!(alone, Err(QueueError::Storage(ref m)) if m.contains("poisoned job")));

    // In a group: its bulk's first job is rolled back with it; the others commit.
    let requests_before = f.stats.requests();
    let transactions_before = f.stats.transactions();
    let good = |n: i64| {
        f.queue
            .push(NewJob::new("good", serde_json::json!({ "n": n })))
    };
    let on_good = |kind: &str| NewJob {
        queue: Some("good".into()),
        ..NewJob::new(kind, serde_json::json!({}))
    };
    let bad = f
        .queue
        .push_bulk(vec![on_good("companion"), on_good("poison")]);
    // A single push is one statement, run without a savepoint of its own.
    let bad_alone = f.queue.push(on_good("poison"));
    let (first, bad, rest, bad_alone, last) = with_lock_held(
        &mut blocker,
        Box::pin(async {
            tokio::join!(
                good(1),
                bad,
                join_all([good(2), good(3)]),
                bad_alone,
                good(4)
            )
        }),
    )
    .await;
    first.unwrap();
    last.unwrap();
    for r in rest {
        r.unwrap();
    }
    for bad in [bad.map(|_| ()), bad_alone.map(|_| ())] {
        assert!(
            matches!(bad, Err(QueueError::Storage(ref m)) if m.contains("poisoned job")),
            "{bad:?}"
        );
    }
    assert_eq!(f.stats.requests() - requests_before, 6);
    assert!(f.stats.transactions() - transactions_before <= 2);
    assert_eq!(f.jobs_of_kind("good").await, 4);
    assert_eq!(f.jobs_of_kind("companion").await, 0);
    assert_eq!(f.jobs_of_kind("poison").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_does_not_undo_its_push() {
    let f = fixture().await;
    let mut blocker = f.other_connection().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let mut abandoned = f
        .queue
        .push(NewJob::new("abandoned", serde_json::json!({})));
    assert!(futures::poll!(&mut abandoned).is_pending());
    drop(abandoned);
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    // The writer answers in order: once a later push is answered, the abandoned one's group is
    // done.
    f.queue
        .push(NewJob::new("later", serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(f.jobs_of_kind("abandoned").await, 1);
}

#[tokio::test]
async fn a_closed_queue_refuses_writes() {
    let f = fixture().await;
    f.queue
        .push(NewJob::new("q", serde_json::json!({})))
        .await
        .unwrap();
    f.queue.close().await;
    let after = tokio::time::timeout(
        Duration::from_secs(30),
        f.queue.push(NewJob::new("q", serde_json::json!({}))),
    )
    .await
    .expect("a push on a closed queue answers");
    assert!(matches!(after, Err(QueueError::Storage(_))));
}

/// The writer does not checkpoint inside its commits; a task beside it does, so committed
/// pages reach the database file while the queue runs, not only when it closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_checkpointed_beside_the_writer() {
    let f = fixture().await;
    let file = f.url.trim_start_matches("sqlite://").to_owned();
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    f.queue
        .push_bulk(
            (0..1000)
                .map(|n| NewJob::new("q", serde_json::json!({ "n": n })))
                .collect(),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint: the database file stayed at {before} bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
