//! apalis workers over our durable queue.
//!
//! apalis is the runtime (WorkerBuilder, tower layers, monitor); the queue decides everything
//! durable. [`source::QueueSource`] is the apalis source of one queue: it leases only as many
//! jobs as there are free slots, waking promptly on pushes. [`lease_keeper`] owns every lease's
//! life in the process — one renewal call per beat, stop reasons for handlers, the stop before an
//! unrenewed lease expires, and the release at shutdown after acks drain. [`ack::AckLayer`] sees
//! each attempt's final result — after timeout and panic handling — and records what it implies,
//! fenced by the lease, through a per-worker [`batch::AckBatcher`] that sends acks in batches
//! under load. [`exclusion`] holds the locks of the keys a kind declares while an attempt runs.
//! [`run_log`] is told of every attempt's start and end, for the run history. [`gate`] holds the
//! kinds of an unreachable dependency, deployment-wide. [`pool`] runs one apalis worker per kind
//! under one monitor.

pub mod ack;
pub mod batch;
pub mod config;
pub mod exclusion;
pub mod gate;
pub mod lease_keeper;
pub mod metrics;
pub mod pool;
pub mod run_log;
pub mod source;

pub use config::WorkerConfig;
pub use pool::{Hooks, SuccessObserver, run_observed_workers, run_workers};
pub use run_log::RunLog;
pub use source::JobTask;
