//! A gate's prober that dies while the dependency is still down: the other processes must not
//! open (every waiting job of theirs would hit the dependency at once); one takes over probing,
//! and they open when a probe succeeds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use dezky_jobs::Dependency;
use dezky_queue::DynQueue;
use dezky_queue::sqlite::SqliteQueue;
use dezky_worker::gate::{Gate, GateConfig, Probe};

/// A probe that fails while `down` holds, counting its calls.
fn probe(down: Arc<AtomicBool>, calls: Arc<AtomicU32>) -> Probe {
    Arc::new(move || {
        let (down, calls) = (down.clone(), calls.clone());
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if down.load(Ordering::SeqCst) {
                Err("down".to_owned())
            } else {
                Ok(())
            }
        })
    })
}

async fn poll_until(within: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tick.tick().await;
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_prober_dies_another_probes_instead_of_opening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gate.db").display());
    let queue: DynQueue = Arc::new(SqliteQueue::open_default(&url).await.unwrap());
    let config = GateConfig {
        probe_interval: Duration::from_millis(100),
        watch_interval: Duration::from_millis(50),
        ..GateConfig::default()
    };
    let down = Arc::new(AtomicBool::new(true));
    let (calls_a, calls_b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let gate = |calls: &Arc<AtomicU32>| {
        Gate::new(
            Dependency::Authentik,
            queue.clone(),
            probe(down.clone(), calls.clone()),
            vec![],
            config.clone(),
        )
    };
    let (a, b) = (gate(&calls_a), gate(&calls_b));
    let task_a = tokio::spawn(a.clone().run());
    let _task_b = tokio::spawn(b.clone().run());

    a.report_unreachable();
    assert!(
        poll_until(Duration::from_secs(10), || !b.is_open()
            && calls_a.load(Ordering::SeqCst) >= 1)
        .await,
        "A probes and B sees the gate closed"
    );
    let opened = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let (b, opened) = (b.clone(), opened.clone());
        async move {
            b.opened().await;
            opened.store(true, Ordering::SeqCst);
        }
    });

    task_a.abort(); // the prober dies; its lock expires
    assert!(
        poll_until(Duration::from_secs(10), || calls_b.load(Ordering::SeqCst)
            >= 3)
        .await,
        "B did not take over probing (opened: {})",
        opened.load(Ordering::SeqCst)
    );
    assert!(
        !opened.load(Ordering::SeqCst),
        "B opened while the dependency was down"
    );

    down.store(false, Ordering::SeqCst);
    assert!(
        poll_until(Duration::from_secs(10), || b.is_open()).await,
        "B opens once its probe succeeds"
    );
}
