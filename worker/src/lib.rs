//! apalis workers over our durable queue.
//!
//! apalis is the runtime (WorkerBuilder, tower layers, monitor); the queue decides everything
//! durable. [`source::QueueSource`] is the apalis backend: it leases batches from one queue and
//! hands tasks out one free slot at a time, waking promptly on pushes. [`leases`] renews every
//! held lease from its own task (so renewal keeps going while apalis drains at shutdown) and
//! relays cancellation requests. [`ack::AckLayer`] sees each attempt's final result — after
//! timeout and panic handling — and completes the job with the matching outcome, fenced by its
//! lease, through a per-worker [`batch::AckBatcher`] that sends acks in batches under load.
//! [`pool`] runs one apalis worker per kind and releases what is still held at shutdown.

pub mod ack;
pub mod batch;
pub mod config;
pub mod leases;
pub mod pool;
pub mod source;

pub use config::WorkerConfig;
pub use pool::{SuccessObserver, run_observed_workers, run_workers};
pub use source::JobTask;
