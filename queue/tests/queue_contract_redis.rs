//! The queue contract suite against the Redis backend, on the real Redis of
//! `DEZKY_TEST_REDIS_URL`; each case gets its own key prefix. The whole suite runs on the
//! harness's manual clock (an explicit override); the cases that never move time run again on the
//! server's own `TIME`, as in production.

use dezky_queue::contract::redis_prefix::{Time, harness_at, redis_url};
use dezky_queue::contract::{Harness, HarnessConfig};

async fn redis_harness(config: HarnessConfig) -> Harness {
    harness_at(&redis_url(), Time::Manual, config).await
}

async fn server_time_harness(config: HarnessConfig) -> Harness {
    harness_at(&redis_url(), Time::Server, config).await
}

dezky_queue::queue_contract_tests!(redis_harness);
dezky_queue::queue_model_test!(redis_harness);

mod on_server_time {
    dezky_queue::queue_contract_tests_without_time!(super::server_time_harness);
}
