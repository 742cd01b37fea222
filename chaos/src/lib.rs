//! The chaos suite of Dezky Jobs, after Jepsen: a workload of acknowledged operations, a nemesis
//! that injects faults, and a checker that counts what was lost, duplicated or got wrong. This
//! crate holds the checker ([`checker`]: every invariant as a pure function of what the run
//! observed, so each can be shown to fail on planted faults), the semantic-duplicate rules over
//! Authentik's objects ([`duplicates`]) and the report ([`report`]: one JSON document and a
//! Markdown table), and the reading of what a run left in the queue, the store and the
//! simulator's state file ([`observe`]). The harness that starts the topology, the workload and
//! the nemesis are not written yet.

pub mod checker;
pub mod duplicates;
pub mod observe;
pub mod report;

pub use checker::{Ack, JobFinal, Observations, check};
pub use report::Report;
