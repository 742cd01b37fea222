//! The subcommands: validate configuration, build the application, run it until a signal.

use anyhow::Context;
use dezky_scheduler::MaintenanceConfig;

use crate::app::{ApiSettings, Application, Settings, open_queue};
use crate::config::{ApiArgs, Cli, Command};
use crate::shutdown::{self, Shutdown};
use crate::{bench, telemetry};

fn api_settings(args: &ApiArgs) -> anyhow::Result<ApiSettings> {
    Ok(ApiSettings {
        listen: args.listen_addr()?,
        tokens: args.tokens()?,
    })
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.common.log_format);
    let queue = cli.common.queue_location()?;
    let test_kinds = cli.common.enable_test_kinds;
    let settings = |api, workers, scheduler| Settings {
        queue: queue.clone(),
        test_kinds,
        api,
        workers,
        scheduler,
    };
    let settings = match &cli.command {
        Command::Run(args) => settings(
            Some(api_settings(&args.api)?),
            Some(args.worker.worker_config()?),
            Some(MaintenanceConfig::default()),
        ),
        Command::Api(args) => settings(Some(api_settings(args)?), None, None),
        Command::Worker(args) => settings(None, Some(args.worker_config()?), None),
        Command::Scheduler => settings(None, None, Some(MaintenanceConfig::default())),
        Command::Migrate => {
            open_queue(&queue).await?.close().await;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::Bench(args) => {
            let report = bench::run(args, cli.common.redis_url.as_deref())
                .await
                .context("benchmark failed")?;
            #[allow(
                clippy::print_stdout,
                reason = "the benchmark's JSON line is its output"
            )]
            {
                println!("{}", serde_json::to_string(&report)?);
            }
            return Ok(());
        }
    };
    if test_kinds {
        tracing::warn!(
            "test-only job kinds are enabled (crash, fail): never do this in production"
        );
    }
    let app = Application::build(settings).await?;
    let stop = Shutdown::default();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        trigger.trigger();
    });
    app.run_until_stopped(stop).await
}
