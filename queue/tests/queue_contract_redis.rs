//! The queue contract suite against the Redis backend, on the real Redis of
//! `DEZKY_TEST_REDIS_URL`; each case gets its own key prefix.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_queue::contract::redis_prefix as support;

use std::sync::Arc;

use dezky_queue::ManualClock;
use dezky_queue::contract::{Harness, HarnessConfig};
use dezky_queue::redis::{RedisQueue, RedisQueueConfig};

async fn redis_harness(config: HarnessConfig) -> Harness {
    let (prefix, guard) = support::fresh_prefix();
    let clock = ManualClock::starting_now();
    let queue = RedisQueue::connect(
        &support::redis_url(),
        RedisQueueConfig {
            prefix,
            retry: config.retry,
            promote_limit: config.promote_limit,
            clock_override: Some(Arc::new(clock.clone())),
            ..Default::default()
        },
    )
    .await
    .expect("connect to the test Redis (DEZKY_TEST_REDIS_URL)");
    Harness {
        queue: Arc::new(queue),
        clock,
        guard: Some(Box::new(guard)),
    }
}

dezky_queue::queue_contract_tests!(redis_harness);
dezky_queue::queue_model_test!(redis_harness);
