//! What a worker process reports to the metrics recorder (`metrics` facade; the binary installs
//! a Prometheus exporter and serves it at `/metrics`): attempts ended by kind and outcome with
//! their duration, how long jobs waited to be picked up, leases held, and each dependency
//! gate's state. Names and labels are here
//! once, so the README's table and the code agree.

use std::time::Duration;

/// Attempts that ended, by `kind` and `outcome` (`succeeded`, `retry`, `snooze`, `blocked`,
/// `abort`, `cancelled`, `released`, `lease_lost`).
pub const ATTEMPTS: &str = "dezky_attempts_total";
/// How long attempts ran, by `kind`, in seconds.
pub const ATTEMPT_SECONDS: &str = "dezky_attempt_duration_seconds";
/// How long jobs waited from due to started, by `kind`, in seconds.
pub const PICKUP_SECONDS: &str = "dezky_pickup_latency_seconds";
/// Leases this process holds now.
pub const LEASES_HELD: &str = "dezky_leases_held";
/// 1 while this process's gate on `dependency` is open, 0 while closed.
pub const GATE_OPEN: &str = "dezky_gate_open";

/// An attempt of `kind` ended with `outcome` after `ran`.
pub fn attempt_ended(kind: &str, outcome: &'static str, ran: Duration) {
    metrics::counter!(ATTEMPTS, "kind" => kind.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!(ATTEMPT_SECONDS, "kind" => kind.to_owned()).record(ran.as_secs_f64());
}

/// An attempt of `kind` starts `waited_ms` after its job became due.
pub fn picked_up(kind: &str, waited_ms: i64) {
    #[allow(
        clippy::cast_precision_loss,
        reason = "milliseconds of waiting fit an f64 exactly"
    )]
    let seconds = waited_ms.max(0) as f64 / 1000.0;
    metrics::histogram!(PICKUP_SECONDS, "kind" => kind.to_owned()).record(seconds);
}

/// The process holds `n` leases.
pub fn leases_held(n: usize) {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a count of leases fits an f64 exactly"
    )]
    metrics::gauge!(LEASES_HELD).set(n as f64);
}

/// The gate on `dependency` is open or closed.
pub fn gate_open(dependency: &'static str, open: bool) {
    metrics::gauge!(GATE_OPEN, "dependency" => dependency).set(if open { 1.0 } else { 0.0 });
}
