//! Contract cases of what the dashboard needs: each queue's activity (oldest wait, recent
//! endings), deleting finished jobs, and bulk actions on dead jobs.

use std::time::Duration;

use super::{Factory, HarnessConfig, abort, fetch_one, job, succeed};
use crate::error::QueueError;
use crate::model::{BulkAction, Dedup, FinishedWithin, JobFilter, JobId, JobState, QueueActivity};

const MINUTE: Duration = Duration::from_secs(60);

/// The oldest available job is the one due longest, whatever its priority; endings count within
/// each window by when they happened.
pub async fn activity_reports_the_oldest_wait_and_recent_endings(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let windows = [5 * MINUTE, 60 * MINUTE];
    assert_eq!(h.queue.activity(&windows).await.unwrap(), vec![]);
    h.queue.push(job("q", 1)).await.unwrap();
    h.clock.advance(Duration::from_secs(7));
    let mut urgent = job("q", 2);
    urgent.priority = 5;
    h.queue.push(urgent).await.unwrap();
    let mut low = job("q", 3);
    low.priority = -3;
    h.queue.push(low).await.unwrap();
    h.clock.advance(Duration::from_secs(3));
    let activity = h.queue.activity(&windows).await.unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!(
        activity[0].oldest_available_age,
        Some(Duration::from_secs(10))
    );

    let leased = fetch_one(&h, "q").await;
    assert_eq!(succeed(&h, &leased.lease).await, JobState::Succeeded);
    h.clock.advance(10 * MINUTE);
    let leased = fetch_one(&h, "q").await;
    assert_eq!(abort(&h, &leased.lease).await, JobState::Dead);
    let ended = |succeeded, dead| {
        windows
            .iter()
            .zip([(0, dead), (succeeded, dead)])
            .map(|(w, (s, d))| FinishedWithin {
                window: *w,
                succeeded: s,
                dead: d,
            })
            .collect::<Vec<_>>()
    };
    let activity = h.queue.activity(&windows).await.unwrap();
    assert_eq!(
        activity,
        vec![QueueActivity {
            queue: "q".into(),
            oldest_available_age: Some(10 * MINUTE + Duration::from_secs(3)),
            finished: ended(1, 1),
        }]
    );
    let leased = fetch_one(&h, "q").await;
    succeed(&h, &leased.lease).await;
    let activity = h.queue.activity(&windows).await.unwrap();
    assert_eq!(activity[0].oldest_available_age, None);
    assert_eq!(activity[0].finished[0].succeeded, 1);
    h.queue.pause("idle").await.unwrap();
    let queues: Vec<String> = h
        .queue
        .activity(&windows)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.queue)
        .collect();
    assert_eq!(
        queues,
        ["idle", "q"],
        "a paused queue is listed, as by counts"
    );
}

/// Delete takes finished jobs only; a deleted job's dedup key answers on within its window.
pub async fn delete_removes_only_finished_jobs(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut keyed = job("q", 1);
    keyed.dedup = Some(Dedup {
        key: "k".into(),
        window: 60 * MINUTE,
        fingerprint: None,
    });
    let id = h.queue.push(keyed.clone()).await.unwrap().id;
    assert!(matches!(
        h.queue.delete(&id).await,
        Err(QueueError::InvalidState { .. })
    ));
    h.queue.discard(&id, "by hand").await.unwrap();
    let deleted = h.queue.delete(&id).await.unwrap();
    assert_eq!(
        (deleted.id.clone(), deleted.state),
        (id.clone(), JobState::Dead)
    );
    assert_eq!(h.queue.get(&id).await.unwrap(), None);
    assert!(matches!(
        h.queue.delete(&id).await,
        Err(QueueError::NotFound(_))
    ));
    assert!(h.queue.counts().await.unwrap().is_empty());
    let again = h.queue.push(keyed).await.unwrap();
    assert_eq!((again.id, again.duplicate), (id, true));
    assert!(matches!(
        h.queue.delete(&JobId::generate()).await,
        Err(QueueError::NotFound(_))
    ));
}

/// Bulk actions touch dead jobs matching the filter only, at most `limit` a call, newest first,
/// and go on from the cursor.
pub async fn bulk_dead_retries_and_deletes_in_bounded_batches(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut x = Vec::new();
    for n in 0..5 {
        let id = h.queue.push(job("x", n)).await.unwrap().id;
        h.queue.discard(&id, "test").await.unwrap();
        x.push(id);
    }
    let mut y = job("y", 9);
    y.args = serde_json::json!({ "email": "rare@example.org" });
    let y = h.queue.push(y).await.unwrap().id;
    h.queue.discard(&y, "test").await.unwrap();
    let alive = h.queue.push(job("x", 10)).await.unwrap().id;

    let only_x = JobFilter {
        kind: Some("x".into()),
        ..JobFilter::default()
    };
    let first = h
        .queue
        .bulk_dead(BulkAction::Retry, only_x.clone(), 3)
        .await
        .unwrap();
    assert_eq!(first.touched, 3);
    for id in &x[2..] {
        assert_eq!(
            h.queue.get(id).await.unwrap().unwrap().state,
            JobState::Available,
            "newest first"
        );
    }
    let rest = h
        .queue
        .bulk_dead(
            BulkAction::Retry,
            JobFilter {
                cursor: first.next_cursor,
                ..only_x.clone()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(rest.touched, 2);
    assert_eq!(
        h.queue.get(&y).await.unwrap().unwrap().state,
        JobState::Dead,
        "another kind is left alone"
    );
    assert_eq!(
        h.queue.get(&alive).await.unwrap().unwrap().state,
        JobState::Available
    );
    let by_text = JobFilter {
        text: Some("rare@".into()),
        ..JobFilter::default()
    };
    let deleted = h
        .queue
        .bulk_dead(BulkAction::Delete, by_text, 100)
        .await
        .unwrap();
    assert_eq!((deleted.touched, deleted.next_cursor), (1, None));
    assert_eq!(h.queue.get(&y).await.unwrap(), None);
    let none = h
        .queue
        .bulk_dead(BulkAction::Delete, JobFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(none.touched, 0);
}
