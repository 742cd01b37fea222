//! Dezky Jobs, assembled: configuration ([`config`]), the application that runs the API, the
//! workers and the scheduler in any combination ([`app`]), logging ([`telemetry`]), shutdown
//! signals ([`shutdown`]), the benchmark ([`bench`]), development mode with the Authentik
//! simulator ([`dev`]), the run history kept in the store ([`run_history`]), the metrics
//! recorder ([`metrics`]) and the subcommands ([`cli`]). `main` and the
//! tests start exactly the same [`app::Application`].

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod dev;
pub mod metrics;
pub mod probe;
pub mod run_history;
pub mod secret_key;
pub mod shutdown;
pub mod telemetry;
