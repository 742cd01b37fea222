//! The durable job queue of Dezky Jobs.
//!
//! This crate owns the queue's contract (written down in `docs/queue-contract.md`) and everything a
//! backend needs to honour it: the job model ([`model`]) and its state machine as one pure function ([`machine`]), fenced
//! locks ([`lock`]), the operations
//! every backend implements ([`QueueBackend`]), injectable time ([`clock`]), the retry policy
//! ([`backoff`]), prompt wake-ups ([`wake`]) and the embedded SQLite backend ([`sqlite`]), the production Redis backend ([`redis`]) and the PostgreSQL backend ([`postgres`]). With the
//! `contract-tests` feature it also exports the one test suite that every backend must pass
//! ([`contract`]). It knows nothing of job kinds, HTTP or apalis: those live in `jobs`, `api-shim`
//! and `worker`.

pub mod backend;
pub mod backoff;
pub mod bulk;
pub mod clock;
#[cfg(feature = "contract-tests")]
pub mod contract;
pub mod crash;
pub mod error;
mod job_row;
pub mod lock;
pub mod machine;
pub mod model;
pub mod postgres;
pub mod redis;
mod search_plan;
pub mod sqlite;
pub mod validate;
pub mod wake;

pub use backend::{DbConn, DynQueue, InDatabase, QueueBackend};
pub use backoff::RetryPolicy;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::QueueError;
pub use model::*;
pub use wake::WakeSignal;
