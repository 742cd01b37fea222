//! The run history hook: told when each attempt starts and how it ended, so a store can keep a
//! row per attempt (`dezky_store::Store` implements it in the binary). A failing log is logged
//! and never fails the job: history is for people, the queue is the truth.

pub use futures::future::BoxFuture;

/// Where attempts are recorded.
pub trait RunLog: Send + Sync + std::fmt::Debug + 'static {
    /// Attempt `attempt` of job `id`, of `kind`, starts.
    fn started<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        kind: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// It ended: `outcome` is what the worker recorded (`succeeded`, `retry`, `snooze`, `abort`,
    /// `cancelled`, `released`, `lease_lost`), `error` its message, if any.
    fn finished<'a>(
        &'a self,
        id: &'a str,
        attempt: u32,
        outcome: &'a str,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>>;
}
