//! The queue contract suite against the SQLite backend: each case gets its own database file.

use dezky_queue::contract::sqlite_support::harness_with;
use dezky_queue::contract::{Harness, HarnessConfig};

async fn sqlite_harness(config: HarnessConfig) -> Harness {
    harness_with(config, |_| {}).await
}

dezky_queue::queue_contract_tests!(sqlite_harness);
dezky_queue::queue_model_test!(sqlite_harness);
