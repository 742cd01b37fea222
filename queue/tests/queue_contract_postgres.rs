//! The queue contract suite against the PostgreSQL backend, on the real PostgreSQL of
//! `DEZKY_TEST_DATABASE_URL`; each case gets its own schema. The whole suite runs on the
//! harness's manual clock (an explicit override); the cases that never move time run again on the
//! database's own clock, as in production.

use dezky_queue::contract::postgres_support::{Time, harness_at};
use dezky_queue::contract::{Harness, HarnessConfig};

async fn postgres_harness(config: HarnessConfig) -> Harness {
    harness_at(Time::Manual, config).await
}

async fn server_time_harness(config: HarnessConfig) -> Harness {
    harness_at(Time::Server, config).await
}

dezky_queue::queue_contract_tests!(postgres_harness);
dezky_queue::queue_model_test!(postgres_harness);

mod on_server_time {
    dezky_queue::queue_contract_tests_without_time!(super::server_time_harness);
}
