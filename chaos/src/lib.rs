//! The chaos suite of Dezky Jobs, after Jepsen: a workload of acknowledged operations, a nemesis
//! that injects faults, and a checker that counts what was lost, duplicated or got wrong. This
//! crate holds the checker ([`checker`]: every invariant as a pure function of what the run
//! observed, so each can be shown to fail on planted faults), the semantic-duplicate rules over
//! Authentik's objects ([`duplicates`]) and the report ([`report`]: one JSON document and a
//! Markdown table), and the reading of what a run left in the queue, the store and the
//! simulator's state file ([`observe`]). The harness (the `dezky-chaos` binary) starts the real
//! binary's processes on loopback ([`topology`]), pushes the workload through the API
//! ([`workload`]) while the seeded nemesis injects faults ([`nemesis`]), heals, drains and checks
//! ([`run`]); it can plant faults itself before the check ([`plant`]).

pub mod checker;
pub mod duplicates;
pub mod nemesis;
pub mod observe;
pub mod plant;
pub mod report;
pub mod run;
pub mod topology;
pub mod workload;

pub use checker::{Ack, ExpectedTicks, JobFinal, Observations, check};
pub use report::Report;
