//! Contract cases: cancel, discard, retry now, search, counts, retention, wake-ups.

use std::time::Duration;

use super::{Factory, HarnessConfig, abort, fetch, fetch_one, job};
use crate::error::QueueError;
use crate::model::{AttemptFailure, JobFilter, JobState, Outcome, Retention};

/// Queued jobs cancel at once; running ones get a request the handler can see, and the job
/// ends cancelled when the handler acknowledges it.
pub async fn cancel_queued_and_running(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let queued = h.queue.push(job("q", 1)).await.unwrap().id;
    assert_eq!(
        h.queue.cancel(&queued).await.unwrap().state,
        JobState::Cancelled
    );
    assert!(fetch(&h, "q", 1).await.jobs.is_empty());
    assert!(matches!(
        h.queue.cancel(&queued).await,
        Err(QueueError::InvalidState { .. })
    ));

    let running = h.queue.push(job("q", 2)).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    let job = h.queue.cancel(&running).await.unwrap();
    assert_eq!((job.state, job.cancel_requested), (JobState::Running, true));
    assert_eq!(
        h.queue
            .complete(&leased.lease, Outcome::Cancelled)
            .await
            .unwrap(),
        JobState::Cancelled
    );
    assert!(matches!(
        h.queue.cancel(&crate::model::JobId::generate()).await,
        Err(QueueError::NotFound(_))
    ));
}

/// Discard kills an unfinished job and records why.
pub async fn discard_records_the_reason(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let id = h.queue.push(job("q", 1)).await.unwrap().id;
    let job = h.queue.discard(&id, "tenant deleted").await.unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert_eq!(
        job.errors
            .last()
            .map(|e| (e.class.as_str(), e.message.as_str())),
        Some(("discarded", "tenant deleted"))
    );
    assert!(matches!(
        h.queue.discard(&id, "again").await,
        Err(QueueError::InvalidState { .. })
    ));
}

/// Retry now makes a dead job available at once, with one more attempt when it had none left.
pub async fn retry_now_revives_a_dead_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut j = job("q", 1);
    j.max_attempts = 1;
    let id = h.queue.push(j).await.unwrap().id;
    let leased = fetch_one(&h, "q").await;
    assert_eq!(abort(&h, &leased.lease).await, JobState::Dead);
    let revived = h.queue.retry_now(&id).await.unwrap();
    assert_eq!(revived.state, JobState::Available);
    assert!(revived.max_attempts > revived.attempt);
    let again = fetch_one(&h, "q").await;
    assert_eq!(again.lease.attempt, 2);
    assert!(
        matches!(
            h.queue.retry_now(&id).await,
            Err(QueueError::InvalidState { .. })
        ),
        "running jobs are not retried"
    );
}

/// Search filters by queue, state, kind, tenant, enqueuer and text in args; pages newest first;
/// lists carry no results.
pub async fn list_filters_and_pages(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    for n in 0..7 {
        let mut j = job(if n % 2 == 0 { "even" } else { "odd" }, n);
        j.tenant = Some(if n < 3 { "acme" } else { "globex" }.into());
        j.enqueued_by = (n % 3 == 0).then(|| "portal".into());
        j.args = serde_json::json!({ "n": n, "email": format!("user{n}@example.org") });
        h.queue.push(j).await.unwrap();
    }
    let leased = fetch_one(&h, "even").await;
    h.queue
        .complete(
            &leased.lease,
            Outcome::Succeeded(serde_json::json!("secret-result")),
        )
        .await
        .unwrap();

    let all = |filter: JobFilter| async { h.queue.list(filter).await.unwrap() };
    let base = JobFilter {
        limit: 100,
        ..Default::default()
    };
    let every = all(base.clone()).await;
    let ns: Vec<i64> = every
        .jobs
        .iter()
        .map(|j| j.args["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![6, 5, 4, 3, 2, 1, 0]);
    assert!(every.jobs.iter().all(|j| j.result.is_none()) && every.next_cursor.is_none());
    assert_eq!(
        all(JobFilter {
            kind: Some("odd".into()),
            ..base.clone()
        })
        .await
        .jobs
        .len(),
        3
    );
    assert_eq!(
        all(JobFilter {
            queue: Some("even".into()),
            ..base.clone()
        })
        .await
        .jobs
        .len(),
        4
    );
    assert_eq!(
        all(JobFilter {
            tenant: Some("acme".into()),
            ..base.clone()
        })
        .await
        .jobs
        .len(),
        3
    );
    assert_eq!(
        all(JobFilter {
            state: Some(JobState::Succeeded),
            ..base.clone()
        })
        .await
        .jobs
        .len(),
        1
    );
    let by_portal = all(JobFilter {
        enqueued_by: Some("portal".into()),
        ..base.clone()
    })
    .await;
    assert_eq!(
        by_portal
            .jobs
            .iter()
            .map(|j| j.args["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![6, 3, 0]
    );
    assert!(
        all(JobFilter {
            enqueued_by: Some("elsewhere".into()),
            ..base.clone()
        })
        .await
        .jobs
        .is_empty()
    );
    let text = all(JobFilter {
        text: Some("user5@".into()),
        ..base.clone()
    })
    .await;
    assert_eq!(
        text.jobs
            .iter()
            .map(|j| j.args["n"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![5]
    );

    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = all(JobFilter {
            limit: 3,
            cursor: cursor.clone(),
            ..Default::default()
        })
        .await;
        pages.push(page.jobs.len());
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, vec![3, 3, 1]);
    assert!(matches!(
        h.queue
            .list(JobFilter {
                cursor: Some("garbage".into()),
                ..base
            })
            .await,
        Err(QueueError::Invalid(_))
    ));
}

/// Counts report every state of every queue.
pub async fn counts_per_queue_and_state(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    h.queue
        .push_bulk((0..3).map(|n| job("a", n)).collect())
        .await
        .unwrap();
    let mut later = job("b", 1);
    later.run_at = Some(i64::MAX / 2);
    h.queue.push(later).await.unwrap();
    fetch_one(&h, "a").await;
    let counts = h.queue.counts().await.unwrap();
    let a = counts.iter().find(|c| c.queue == "a").expect("queue a");
    let b = counts.iter().find(|c| c.queue == "b").expect("queue b");
    assert_eq!(
        (
            a.get(JobState::Available),
            a.get(JobState::Running),
            a.get(JobState::Dead)
        ),
        (2, 1, 0)
    );
    assert_eq!(b.get(JobState::Scheduled), 1);
    assert_eq!(a.counts.len(), JobState::ALL.len());
}

/// Succeeded jobs go after their retention, dead ones after theirs; unfinished ones stay.
pub async fn retention_prunes_finished_jobs(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let retention = Retention::default();
    let ok = h.queue.push(job("q", 1)).await.unwrap().id;
    let bad = h.queue.push(job("q", 2)).await.unwrap().id;
    let waiting = h.queue.push(job("later", 3)).await.unwrap().id;
    let leased = fetch(&h, "q", 2).await.jobs;
    super::succeed(&h, &leased[0].lease).await;
    h.queue
        .complete(
            &leased[1].lease,
            Outcome::Abort(AttemptFailure::new("permanent", "x")),
        )
        .await
        .unwrap();
    assert_eq!(h.queue.prune(retention, 1000).await.unwrap(), 0);
    h.clock
        .advance(retention.succeeded + Duration::from_secs(1));
    assert_eq!(h.queue.prune(retention, 1000).await.unwrap(), 1);
    assert!(h.queue.get(&ok).await.unwrap().is_none());
    assert!(h.queue.get(&bad).await.unwrap().is_some());
    h.clock.advance(retention.dead);
    assert_eq!(h.queue.prune(retention, 1000).await.unwrap(), 1);
    assert!(h.queue.get(&bad).await.unwrap().is_none());
    assert!(h.queue.get(&waiting).await.unwrap().is_some());
}

/// A push wakes a worker that waits with an hour-long fallback poll.
pub async fn push_wakes_an_idle_worker(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let mut signal = h.queue.wake_signal("q");
    signal.mark_seen();
    let waiter = tokio::spawn(async move { signal.wait(Duration::from_secs(3600)).await });
    h.queue.push(job("q", 1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("woken long before the fallback poll")
        .unwrap();
}
