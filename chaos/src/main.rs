//! `dezky-chaos`: one chaos run against the real binary. It starts the topology on loopback, runs
//! the workload under the seeded nemesis, heals, drains, checks, prints the report (a Markdown
//! table, and the JSON document with `--json`), and exits non-zero when an invariant broke.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dezky_chaos::run::{RunConfig, TimingBounds, run};
use dezky_chaos::topology::{QueueKind, TopologyConfig};
use dezky_chaos::workload::Rates;

/// A Jepsen-style run of Dezky Jobs: workers, schedulers, the API, the simulator and Redis
/// killed mid-job, Authentik unavailable; then what was lost, duplicated or got wrong.
#[derive(Debug, Parser)]
#[command(name = "dezky-chaos")]
struct Args {
    /// Where the queue lives: `redis` (a Redis of the run's own, AOF fsynced on every write) or
    /// `sqlite` (the embedded default).
    #[arg(long, default_value = "sqlite")]
    queue: String,
    /// The store: `sqlite` (a file of the run's own; the queue's when it is SQLite's) or a
    /// `postgres://` URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// How long the faults go on, in minutes: a long run, which also gates the timing figures
    /// (recovery after a worker kill, p99, at most three leases; the drain at most two minutes).
    #[arg(long)]
    minutes: Option<u64>,
    /// How long the faults go on, in seconds (the CI profile: 90).
    #[arg(long, default_value_t = 90)]
    seconds: u64,
    /// How long each stretch of Authentik's unavailability lasts, seconds (default: a minute, or
    /// a quarter of a shorter run).
    #[arg(long)]
    unavailable_secs: Option<u64>,
    /// The seed of the workload and the nemesis (default: the time).
    #[arg(long)]
    seed: Option<u64>,
    /// Lease length, seconds.
    #[arg(long, default_value_t = 3)]
    lease_ttl_secs: u64,
    /// `sleep` jobs pushed per second.
    #[arg(long, default_value_t = 20)]
    sleeps_per_sec: u32,
    /// The `dezky-jobs` binary (default: the one next to this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// The run's folder (logs, databases, the report); default: a new temporary one, kept.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Plant faults after the run (an acknowledged job deleted, a tick enqueued twice, a
    /// duplicate brand): the run must then fail, naming each.
    #[arg(long)]
    plant: bool,
    /// Print the nemesis's schedule for these settings and exit.
    #[arg(long)]
    plan_only: bool,
    /// Also print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let queue = match args.queue.as_str() {
        "redis" => QueueKind::Redis,
        "sqlite" => QueueKind::Sqlite,
        other => anyhow::bail!("--queue is `redis` or `sqlite`, not `{other}`"),
    };
    let store_url = match args.store.as_str() {
        "sqlite" => None,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            anyhow::ensure!(
                queue == QueueKind::Redis,
                "a PostgreSQL store needs the Redis queue (--queue redis)"
            );
            Some(url.to_owned())
        }
        other => anyhow::bail!("--store is `sqlite` or a postgres:// URL, not `{other}`"),
    };
    let binary = match args.binary {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no folder for the binary")?
            .join("dezky-jobs"),
    };
    anyhow::ensure!(
        binary.exists(),
        "no dezky-jobs at {} (build it: cargo build -p dezky-cli, or pass --binary)",
        binary.display()
    );
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let duration = Duration::from_secs(args.minutes.map_or(args.seconds, |m| m * 60));
    let unavailable = Duration::from_secs(
        args.unavailable_secs
            .unwrap_or_else(|| (duration.as_secs() / 4).min(60)),
    );
    if args.plan_only {
        let events = dezky_chaos::nemesis::plan(&dezky_chaos::nemesis::PlanConfig {
            seed,
            duration,
            queue,
            lease_ttl: Duration::from_secs(args.lease_ttl_secs),
            unavailable,
        });
        #[allow(clippy::print_stdout, reason = "the schedule is what was asked for")]
        for event in events {
            println!("  {event}");
        }
        return Ok(());
    }
    let dir = match args.dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("dezky-chaos-")
            .tempdir()?
            .keep(),
    };
    std::fs::create_dir_all(&dir)?;
    // Absolute: Redis changes into it, and the processes are told paths inside it.
    let dir = dir.canonicalize()?;
    eprintln!("chaos: run folder {}", dir.display());
    let config = RunConfig {
        topology: TopologyConfig {
            binary,
            dir: dir.clone(),
            queue,
            store_url,
            lease_ttl_secs: args.lease_ttl_secs,
            seed_every_secs: 10,
            reconcile_every_secs: 15,
            reset_after_commit_rate: 0.05,
            seed,
        },
        duration,
        unavailable,
        rates: Rates {
            sleeps_per_sec: args.sleeps_per_sec,
            tenant_every_secs: 3,
        },
        seed,
        drain_deadline: Duration::from_secs(300),
        plant: args.plant,
        timing_bounds: args.minutes.map(|_| TimingBounds {
            recovery_p99: Duration::from_secs(args.lease_ttl_secs * 3),
            drain: Duration::from_secs(120),
        }),
    };
    // reqwest is built without a TLS provider of its own (as in the product).
    dezky_authentik::client::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(config))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(dir.join("report.json"), &json)?;
    std::fs::write(dir.join("report.md"), report.markdown())?;
    #[allow(clippy::print_stdout, reason = "the report is this tool's output")]
    {
        if args.json {
            println!("{json}");
        }
        println!("{}", report.markdown());
    }
    if report.ok() {
        Ok(())
    } else {
        anyhow::bail!("an invariant broke (report in {})", dir.display())
    }
}
