//! The process's metrics recorder: one Prometheus exporter per process (installed on first
//! use; the `metrics` facade every crate records through reports to it), rendered by
//! `/metrics`. Durations are histograms with buckets from 5 ms to 5 minutes.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (then this process's metrics go there).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the metrics recorder; /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// What `/metrics` serves in this process; `queue_depth` on the api role only.
pub fn endpoint(queue_depth: bool) -> dezky_api_shim::Metrics {
    let handle = handle();
    dezky_api_shim::Metrics {
        render: Arc::new(move || {
            handle.map_or_else(String::new, |h| {
                h.run_upkeep();
                h.render()
            })
        }),
        queue_depth,
    }
}
