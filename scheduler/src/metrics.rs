//! What a scheduler process reports to the metrics recorder: its ticks by schedule and outcome,
//! and how late after its tick each schedule's newest job was enqueued.

/// Ticks dealt with, by `schedule` and `outcome` (`enqueued`, `skipped`, `missed`), counted by
/// the replica that recorded the tick in the store: a sum over replicas counts each tick once.
pub const TICKS: &str = "dezky_schedule_ticks_total";
/// Seconds between a schedule's newest tick and its job's enqueueing, by `schedule`.
pub const LAG_SECONDS: &str = "dezky_schedule_lag_seconds";

/// A tick of `schedule` ended with `outcome`; `lag_ms` after it, when it was enqueued.
pub fn tick(schedule: &str, outcome: &'static str, lag_ms: Option<i64>) {
    metrics::counter!(TICKS, "schedule" => schedule.to_owned(), "outcome" => outcome).increment(1);
    if let Some(lag) = lag_ms {
        #[allow(
            clippy::cast_precision_loss,
            reason = "milliseconds of lag fit an f64 exactly"
        )]
        metrics::gauge!(LAG_SECONDS, "schedule" => schedule.to_owned()).set(lag as f64 / 1000.0);
    }
}
