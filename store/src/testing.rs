//! PostgreSQL for tests (feature `testing`): the queue's test support — the server
//! `dezky_test_services` finds, and a schema of each test's own, dropped when it goes — for this
//! crate's tests and the binary's.

pub use dezky_queue::contract::postgres_support::{TestSchema, postgres_url};
