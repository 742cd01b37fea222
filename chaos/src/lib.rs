//! The chaos suite of Dezky Jobs, after Jepsen: a workload of acknowledged operations, a nemesis
//! that injects faults, and a checker that counts what was lost, duplicated or got wrong. This
//! crate holds the checker ([`checker`]: every invariant as a pure function of what the run
//! observed, so each can be shown to fail on planted faults), the semantic-duplicate rules over
//! Authentik's objects ([`duplicates`]) and the report ([`report`]: one JSON document and a
//! Markdown table). The harness that starts the topology and the nemesis are not written yet.

pub mod checker;
pub mod duplicates;
pub mod report;

pub use checker::{Ack, JobFinal, Observations, check};
pub use report::Report;
