//! Contract case: promotion stays bounded per fetch, whatever the backlog.

use std::time::Duration;

use super::{Factory, HarnessConfig, fetch, job};
use crate::clock::{Clock, duration_ms};

/// With 100,000 due scheduled jobs, one fetch promotes at most `promote_limit` and still leases
/// its batch; successive fetches keep making progress.
pub async fn promotion_is_bounded_with_a_large_backlog(f: &Factory) {
    let config = HarnessConfig {
        promote_limit: 500,
        ..HarnessConfig::default()
    };
    let limit = config.promote_limit;
    let h = f(config).await;
    let later = h.clock.now_ms() + duration_ms(Duration::from_secs(60));
    for chunk in 0..100 {
        let batch = (0..1000)
            .map(|n| {
                let mut j = job("big", chunk * 1000 + n);
                j.run_at = Some(later);
                j
            })
            .collect();
        h.queue.push_bulk(batch).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(61));
    let mut leased = 0;
    for _ in 0..3 {
        let got = fetch(&h, "big", 10).await;
        assert!(
            got.promoted <= limit,
            "one fetch promoted {} > {limit}",
            got.promoted
        );
        assert_eq!(got.jobs.len(), 10);
        leased += got.jobs.len();
    }
    assert_eq!(leased, 30);
}
