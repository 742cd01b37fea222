//! The subcommands: validate configuration, build the application, run it until a signal.

use anyhow::Context;

use crate::app::{ApiSettings, Application, SchedulerSettings, Settings, open_queue, store_kind};
use crate::config::{ApiArgs, Cli, Command};
use crate::shutdown::{self, Shutdown};
use crate::{bench, dev, telemetry};
use dezky_store::Store;

fn api_settings(args: &ApiArgs, metrics_token: Option<&str>) -> anyhow::Result<ApiSettings> {
    let mut tokens = args.tokens()?;
    tokens.metrics = crate::config::metrics_tokens(metrics_token)?;
    Ok(ApiSettings {
        listen: args.listen_addr()?,
        tokens,
        probes_only: false,
    })
}

/// The probes and metrics of a process without the API, on `default` unless DEZKY_LISTEN says.
fn probe_settings(
    args: &crate::config::ProbeArgs,
    default: &str,
    metrics_token: Option<&str>,
) -> anyhow::Result<ApiSettings> {
    Ok(ApiSettings {
        listen: args.listen_addr(default)?,
        tokens: args.tokens(metrics_token)?,
        probes_only: true,
    })
}

fn scheduler_settings(
    args: &crate::config::SchedulerArgs,
    with_authentik: bool,
) -> anyhow::Result<SchedulerSettings> {
    Ok(SchedulerSettings {
        maintenance: Default::default(),
        schedules: args.schedule_config(with_authentik)?,
    })
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.common.log_format);
    if let Some(point) = cli.common.crash_point.as_deref().filter(|p| !p.is_empty()) {
        tracing::warn!(point, "armed to crash at a test point (DEZKY_CRASH_POINT)");
        dezky_queue::crash::arm(point);
    }
    let queue = cli.common.queue_location()?;
    let test_kinds = cli.common.enable_test_kinds;
    let store = cli.common.database_url.trim().to_owned();
    // Only what runs jobs or serves them needs the key (a PostgreSQL store refuses to start
    // without one); migrating, benchmarking and the simulator do not.
    let secrets = match &cli.command {
        Command::Migrate | Command::Bench(_) | Command::AuthentikSim(_) | Command::Probe(_) => {
            Default::default()
        }
        _ => cli.common.secret_settings()?,
    };
    let invites = match &cli.command {
        Command::Run(args) | Command::Dev(args) => args.worker.invite_settings(),
        Command::Worker(args) => args.worker.invite_settings(),
        _ => Default::default(),
    };
    let settings = |api, workers, scheduler, authentik| Settings {
        secrets: secrets.clone(),
        invites: invites.clone(),
        queue: queue.clone(),
        store: store.clone(),
        test_kinds,
        api,
        workers,
        scheduler,
        authentik,
    };
    let metrics_token = cli.common.metrics_token.as_deref();
    let settings = match &cli.command {
        Command::Run(args) => {
            let authentik = args.worker.authentik.client_config()?;
            settings(
                Some(api_settings(&args.api, metrics_token)?),
                Some(args.worker.worker_config()?),
                Some(scheduler_settings(&args.scheduler, authentik.is_some())?),
                authentik,
            )
        }
        Command::Dev(args) => {
            let (api, authentik, simulator) = dev::start(args).await?;
            let settings = settings(
                Some(api_settings(&api, metrics_token)?),
                Some(args.worker.worker_config()?),
                Some(scheduler_settings(&args.scheduler, true)?),
                Some(authentik),
            );
            let result = run_until_signal(settings, test_kinds).await;
            simulator.stop().await;
            return result;
        }
        Command::AuthentikSim(args) => {
            let listener = tokio::net::TcpListener::bind(&args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let simulator = dezky_authentik_sim::spawn(args.sim_config()?, listener)
                .await
                .context("starting the simulator")?;
            tracing::info!(addr = %simulator.addr, "Authentik simulator listening");
            shutdown::signal().await;
            simulator.stop().await;
            return Ok(());
        }
        Command::Api(args) => settings(Some(api_settings(args, metrics_token)?), None, None, None),
        Command::Worker(args) => settings(
            Some(probe_settings(
                &args.probe,
                crate::config::WORKER_LISTEN,
                metrics_token,
            )?),
            Some(args.worker.worker_config()?),
            None,
            args.worker.authentik.client_config()?,
        ),
        Command::Scheduler(args) => {
            // The scheduler never calls Authentik: its URL alone says the Authentik jobs exist
            // (no token needed here).
            let with_authentik = args
                .authentik
                .authentik_url
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty());
            let scheduler = scheduler_settings(&args.scheduler, with_authentik)?;
            let probes =
                probe_settings(&args.probe, crate::config::SCHEDULER_LISTEN, metrics_token)?;
            settings(Some(probes), None, Some(scheduler), None)
        }
        Command::Probe(args) => return crate::probe::check(args).await,
        Command::Migrate => {
            open_queue(&queue).await?.close().await;
            Store::connect(&store)
                .await
                .with_context(|| format!("migrating the {} store", store_kind(&store)))?
                .close()
                .await;
            tracing::info!("migrations applied");
            return Ok(());
        }
        Command::Bench(args) => {
            let line = bench::report_line(
                args,
                cli.common.redis_url.as_deref(),
                &cli.common.database_url,
            )
            .await
            .context("benchmark failed")?;
            #[allow(
                clippy::print_stdout,
                reason = "the benchmark's JSON line is its output"
            )]
            {
                println!("{line}");
            }
            return Ok(());
        }
    };
    run_until_signal(settings, test_kinds).await
}

/// Builds the application and runs it until SIGTERM or SIGINT.
async fn run_until_signal(settings: Settings, test_kinds: bool) -> anyhow::Result<()> {
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
