//! Contract cases: deduplicated pushes.

use std::time::Duration;

use super::{Factory, HarnessConfig, fetch_one, job};
use crate::model::{Dedup, NewJob};

fn keyed(n: i64, key: &str, window: Duration) -> NewJob {
    let mut j = job("q", n);
    j.dedup = Some(Dedup {
        key: key.into(),
        window,
        fingerprint: Some(format!("fp-{n}")),
    });
    j
}

/// While the first job is unfinished, the same key answers its id and says it is a duplicate.
pub async fn dedup_returns_the_existing_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let first = h.queue.push(keyed(1, "k", Duration::ZERO)).await.unwrap();
    let again = h.queue.push(keyed(2, "k", Duration::ZERO)).await.unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.id, first.id);
    assert_eq!(again.existing_fingerprint.as_deref(), Some("fp-1"));
    let other = h
        .queue
        .push(keyed(3, "other", Duration::ZERO))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    let bulk = h
        .queue
        .push_bulk(vec![
            keyed(4, "k", Duration::ZERO),
            keyed(5, "new", Duration::ZERO),
        ])
        .await
        .unwrap();
    assert!(bulk[0].duplicate && !bulk[1].duplicate);
    // Finished and outside its (zero) window: the key is free again.
    let leased = fetch_one(&h, "q").await;
    assert_eq!(leased.lease.id, first.id);
    super::succeed(&h, &leased.lease).await;
    let fresh = h.queue.push(keyed(6, "k", Duration::ZERO)).await.unwrap();
    assert!(!fresh.duplicate);
    assert_ne!(fresh.id, first.id);
}

/// Within its window, the key answers even after the job finished; after it, it does not.
pub async fn dedup_window_outlives_the_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let window = Duration::from_secs(3600);
    let first = h.queue.push(keyed(1, "k", window)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    super::succeed(&h, &leased.lease).await;
    h.clock.advance(window - Duration::from_secs(1));
    assert_eq!(
        h.queue.push(keyed(2, "k", window)).await.unwrap().id,
        first.id
    );
    h.clock.advance(Duration::from_secs(1));
    let later = h.queue.push(keyed(3, "k", window)).await.unwrap();
    assert!(!later.duplicate);
}

/// Concurrent pushes of one key create exactly one job.
pub async fn concurrent_dedup_pushes_make_one_job(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let queue = h.queue.clone();
            tokio::spawn(async move {
                queue
                    .push(keyed(n, "race", Duration::from_secs(60)))
                    .await
                    .expect("push")
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut fresh = 0;
    for t in tasks {
        let p = t.await.unwrap();
        fresh += usize::from(!p.duplicate);
        ids.push(p.id);
    }
    ids.dedup();
    assert_eq!((fresh, ids.len()), (1, 1));
}

/// A dedup key is scoped by queue on every backend: the same key in another queue is another job.
pub async fn dedup_keys_are_per_queue(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let first = h
        .queue
        .push(keyed(1, "k", Duration::from_secs(60)))
        .await
        .unwrap();
    let mut elsewhere = keyed(2, "k", Duration::from_secs(60));
    elsewhere.queue = Some("other".into());
    let second = h.queue.push(elsewhere).await.unwrap();
    assert!(!second.duplicate, "one key in two queues made one job");
    assert_ne!(second.id, first.id);
}

/// A dedup window longer than the retention of the finished job still answers: the key
/// outlives its pruned job.
pub async fn dedup_window_outlives_retention(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let window = Duration::from_secs(7 * 24 * 3600);
    let first = h.queue.push(keyed(1, "weekly", window)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    super::succeed(&h, &leased.lease).await;
    h.clock.advance(Duration::from_secs(2 * 24 * 3600));
    let pruned = h
        .queue
        .prune(crate::model::Retention::default(), 1000)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(h.queue.get(&first.id).await.unwrap().is_none());
    let again = h.queue.push(keyed(2, "weekly", window)).await.unwrap();
    assert!(again.duplicate, "the key was forgotten with its pruned job");
    assert_eq!(again.id, first.id);
    h.clock.advance(window);
    h.queue
        .prune(crate::model::Retention::default(), 1000)
        .await
        .unwrap();
    assert!(
        !h.queue
            .push(keyed(3, "weekly", window))
            .await
            .unwrap()
            .duplicate
    );
}

/// A job retried now holds its dedup key again only if no other job took the key meanwhile.
pub async fn a_retried_job_does_not_take_back_a_key_another_job_took(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    // No window: a key answers only while its job is unfinished.
    let window = Duration::ZERO;
    let x = h.queue.push(keyed(1, "k", window)).await.unwrap();
    let leased = fetch_one(&h, "q").await;
    h.queue
        .complete(
            &leased.lease,
            crate::model::Outcome::Abort(crate::model::AttemptFailure::new("permanent", "no")),
        )
        .await
        .unwrap();
    let y = h.queue.push(keyed(2, "k", window)).await.unwrap();
    assert!(!y.duplicate);
    let leased = fetch_one(&h, "q").await;
    super::succeed(&h, &leased.lease).await;
    h.queue.retry_now(&x.id).await.unwrap();
    let z = h.queue.push(keyed(3, "k", window)).await.unwrap();
    assert!(
        !z.duplicate,
        "the retried job took back a key another job had taken"
    );
    // While the retried job runs again, the key is Z's.
    assert_eq!(h.queue.push(keyed(4, "k", window)).await.unwrap().id, z.id);
}
