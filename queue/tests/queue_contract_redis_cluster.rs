//! The queue contract suite and the model-based test against the Redis backend on a real Redis
//! Cluster (`DEZKY_TEST_REDIS_CLUSTER_URL`; `scripts/test.sh` starts 3 masters and 3 replicas on
//! loopback); each case gets its own key prefix. Cases that never move time run again on the
//! servers' own `TIME`.

use dezky_queue::contract::redis_prefix::{Time, harness_at, redis_cluster_url};
use dezky_queue::contract::{Harness, HarnessConfig};

async fn cluster_harness(config: HarnessConfig) -> Harness {
    harness_at(&redis_cluster_url(), Time::Manual, config).await
}

async fn server_time_harness(config: HarnessConfig) -> Harness {
    harness_at(&redis_cluster_url(), Time::Server, config).await
}

dezky_queue::queue_contract_tests!(cluster_harness);
dezky_queue::queue_model_test!(cluster_harness);

mod on_server_time {
    dezky_queue::queue_contract_tests_without_time!(super::server_time_harness);
}
