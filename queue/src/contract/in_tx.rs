//! Contract cases: a SQL backend's push and completion on a caller's own transaction
//! ([`InDatabase`]): they stand or fall with it, the completion fenced as `complete` is, and a
//! committed push wakes idle workers once the caller says it committed. A backend that is no SQL
//! database (Redis) answers `None` to `in_database`, and these cases check just that.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::{Connection, SqliteConnection};

use super::{Factory, HarnessConfig, fetch_one, job};
use crate::error::QueueError;
use crate::model::{JobState, Lease, Outcome};
use crate::{DbConn, InDatabase};

/// A transaction of the harness's database, beside the backend's own connections.
pub(super) enum Tx {
    Sqlite(SqliteConnection),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

pub(super) async fn begin(db: &InDatabase) -> Tx {
    match db {
        InDatabase::Sqlite(q) => {
            let url = format!("sqlite://{}", q.path().display());
            let mut conn = SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("PRAGMA busy_timeout = 10000")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Tx::Sqlite(conn)
        }
        InDatabase::Postgres(q) => Tx::Postgres(q.pool().begin().await.unwrap()),
    }
}

impl Tx {
    /// Its connection, for the queue's writes.
    pub(super) fn db(&mut self) -> DbConn<'_> {
        match self {
            Tx::Sqlite(conn) => DbConn::Sqlite(conn),
            Tx::Postgres(tx) => DbConn::Postgres(&mut *tx),
        }
    }
}

/// Commits (`true`) or rolls back the transaction.
pub(super) async fn end(tx: Tx, commit: bool) {
    match tx {
        Tx::Sqlite(mut conn) => {
            let sql = if commit { "COMMIT" } else { "ROLLBACK" };
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        Tx::Postgres(tx) if commit => tx.commit().await.unwrap(),
        Tx::Postgres(tx) => tx.rollback().await.unwrap(),
    }
}

/// A push on a caller's transaction exists only once it commits; then it wakes idle workers.
pub async fn a_push_in_a_transaction_stands_or_falls_with_it(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let Some(db) = h.queue.in_database() else {
        assert_eq!(h.queue.name(), "redis", "only Redis is no SQL database");
        return;
    };
    let mut tx = begin(&db).await;
    let (pushed, _) = db.push_in(tx.db(), &[job("q", 1)]).await.unwrap();
    end(tx, false).await;
    assert!(
        h.queue.get(&pushed[0].id).await.unwrap().is_none(),
        "rolled back with its transaction"
    );
    assert!(h.queue.counts().await.unwrap().is_empty());

    let mut signal = h.queue.wake_signal("q");
    signal.mark_seen();
    let waiter = tokio::spawn(async move { signal.wait(Duration::from_secs(3600)).await });
    let mut tx = begin(&db).await;
    let (pushed, queues) = db
        .push_in(tx.db(), &[job("q", 2), job("q", 3)])
        .await
        .unwrap();
    assert_eq!(queues, BTreeSet::from(["q".to_owned()]));
    end(tx, true).await;
    db.woken(&queues);
    for p in &pushed {
        let stored = h.queue.get(&p.id).await.unwrap().expect("committed");
        assert_eq!(stored.state, JobState::Available);
    }
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("woken once committed")
        .unwrap();
    assert_eq!(
        fetch_one(&h, "q").await.lease.id,
        pushed[0].id,
        "in push order"
    );
}

/// A completion on a caller's transaction is fenced by the lease and takes effect only once the
/// transaction commits.
pub async fn a_completion_in_a_transaction_is_fenced_and_stands_or_falls_with_it(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let Some(db) = h.queue.in_database() else {
        assert_eq!(h.queue.name(), "redis", "only Redis is no SQL database");
        return;
    };
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    let stale = Lease {
        token: leased.lease.token.wrapping_add(1),
        ..leased.lease.clone()
    };
    let done = || Outcome::Succeeded(serde_json::json!({ "ok": true }));

    let mut tx = begin(&db).await;
    assert!(matches!(
        db.complete_in(tx.db(), &stale, &done()).await,
        Err(QueueError::LeaseLost(_))
    ));
    assert_eq!(
        db.complete_in(tx.db(), &leased.lease, &done())
            .await
            .unwrap(),
        JobState::Succeeded
    );
    end(tx, false).await;
    let job_now = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(
        job_now.state,
        JobState::Running,
        "rolled back: still leased"
    );

    let mut tx = begin(&db).await;
    db.complete_in(tx.db(), &leased.lease, &done())
        .await
        .unwrap();
    end(tx, true).await;
    let job_now = h.queue.get(&id).await.unwrap().unwrap();
    assert_eq!(job_now.state, JobState::Succeeded);
    assert_eq!(job_now.result, Some(serde_json::json!({ "ok": true })));
    assert!(matches!(
        h.queue.complete(&leased.lease, done()).await,
        Err(QueueError::LeaseLost(_))
    ));
}
