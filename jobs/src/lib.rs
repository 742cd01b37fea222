//! Job kinds of Dezky Jobs: what each kind's payload looks like, what its handler does, and the
//! vocabulary a handler answers with ([`JobError`]: retry, snooze, abort, cancelled).
//!
//! The [`Registry`] is the one list of kinds: the HTTP shim validates payloads against it and
//! the workers run handlers from it, so neither knows a kind by name. Built-in kinds (`noop`,
//! `echo`, `sleep`) serve smoke tests and benchmarks; test-only kinds (`crash`, `fail`) exist only
//! when a process is started with them enabled. Kinds get what they use — the Authentik client,
//! the store, a handle for child jobs — from the application ([`Services`]), never from globals,
//! and answer a result with an optional secret part ([`Output`]).

pub mod children;
pub mod context;
pub mod error;
pub mod kinds;
pub mod output;
pub mod registry;
pub mod services;

pub use context::{JobContext, StopReason};
pub use error::JobError;
pub use output::{Output, StoreWrite};
pub use registry::{JobKind, KindSettings, Registry};
pub use services::{Dependency, Services};
