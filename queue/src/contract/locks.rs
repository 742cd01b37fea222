//! Contract cases: fenced locks (`lock`, `renew_lock`, `unlock`, `lock_held`; the rules of
//! `lock::lock_step`).

use std::time::Duration;

use super::{Factory, HarnessConfig};
use crate::error::QueueError;

const TTL: Duration = Duration::from_secs(30);

/// One holder at a time; a release frees the lock, and the next take has a greater token.
pub async fn a_lock_has_one_holder_until_released(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let first = h
        .queue
        .lock("tenant:acme", TTL)
        .await
        .unwrap()
        .expect("free");
    assert!(h.queue.lock_held("tenant:acme").await.unwrap());
    assert!(
        !h.queue.lock_held("tenant:other").await.unwrap(),
        "never taken"
    );
    assert!(h.queue.lock("tenant:acme", TTL).await.unwrap().is_none());
    assert!(h.queue.unlock(&first).await.unwrap());
    assert!(!h.queue.lock_held("tenant:acme").await.unwrap(), "released");
    assert!(!h.queue.unlock(&first).await.unwrap(), "released twice");
    let second = h
        .queue
        .lock("tenant:acme", TTL)
        .await
        .unwrap()
        .expect("free again");
    assert!(second.token > first.token);
    assert!(!h.queue.renew_lock(&first, TTL).await.unwrap());
    assert!(h.queue.renew_lock(&second, TTL).await.unwrap());
}

/// A lock not renewed is free at its deadline; its old holder can then neither renew nor release
/// it, and the new holder's token is greater.
pub async fn a_lock_expires_and_fences_its_old_holder(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let first = h.queue.lock("user:a@b.eu", TTL).await.unwrap().unwrap();
    h.clock.advance(TTL - Duration::from_secs(1));
    assert!(h.queue.lock("user:a@b.eu", TTL).await.unwrap().is_none());
    assert!(h.queue.renew_lock(&first, TTL).await.unwrap());
    h.clock.advance(TTL - Duration::from_millis(1));
    assert!(
        h.queue.lock("user:a@b.eu", TTL).await.unwrap().is_none(),
        "renewed"
    );
    assert!(h.queue.lock_held("user:a@b.eu").await.unwrap());
    h.clock.advance(Duration::from_millis(1));
    assert!(!h.queue.lock_held("user:a@b.eu").await.unwrap(), "expired");
    let second = h
        .queue
        .lock("user:a@b.eu", TTL)
        .await
        .unwrap()
        .expect("expired");
    assert!(second.token > first.token);
    assert!(!h.queue.renew_lock(&first, TTL).await.unwrap());
    assert!(!h.queue.unlock(&first).await.unwrap());
    assert!(h.queue.unlock(&second).await.unwrap());
}

/// Keys are independent.
pub async fn locks_are_per_key(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let a = h.queue.lock("tenant:a", TTL).await.unwrap();
    let b = h.queue.lock("tenant:b", TTL).await.unwrap();
    assert!(a.is_some() && b.is_some());
    assert!(h.queue.lock("tenant:a", TTL).await.unwrap().is_none());
}

/// Racing takers: exactly one gets the lock.
pub async fn racing_takers_get_one_lock(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    let takes = (0..10).map(|_| h.queue.lock("tenant:race", TTL));
    let got = futures::future::join_all(takes).await;
    let held = got.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    assert!(got.iter().all(Result::is_ok), "{got:?}");
    assert_eq!(held, 1);
}

/// An empty or overlong key and a zero time to live are refused.
pub async fn invalid_locks_are_refused(f: &Factory) {
    let h = f(HarnessConfig::default()).await;
    for (key, ttl) in [
        (String::new(), TTL),
        ("k".repeat(201), TTL),
        ("tenant:a".to_owned(), Duration::ZERO),
    ] {
        let got = h.queue.lock(&key, ttl).await;
        assert!(matches!(got, Err(QueueError::Invalid(_))), "{got:?}");
    }
}
