//! Configuration by flags and environment (clap), validated at start with messages that say
//! what to change.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dezky_api_shim::{TokenSet, Tokens};
use dezky_worker::WorkerConfig;

/// Dezky Jobs: durable background jobs for Dezky.
#[derive(Debug, Parser)]
#[command(name = "dezky-jobs", version, about)]
pub struct Cli {
    /// Settings every subcommand shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// API, workers and scheduler in one process.
    Run(RunArgs),
    /// The HTTP API only.
    Api(ApiArgs),
    /// Workers only.
    Worker(WorkerCommandArgs),
    /// The scheduler (queue maintenance, boot jobs, cron schedules) only.
    Scheduler(SchedulerCommandArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Measure enqueue and processing rates and pickup latency (one JSON line).
    Bench(BenchArgs),
    /// `run` plus an Authentik simulator on a free port, pointed at each other (development).
    Dev(RunArgs),
    /// The Authentik simulator on its own.
    AuthentikSim(SimArgs),
    /// Check a process's `/healthz`: exit 0 when it answers 200, 1 otherwise (a container's
    /// health check, in an image without curl).
    Probe(HealthProbeArgs),
}

/// `probe`'s settings.
#[derive(Debug, Clone, Args)]
pub struct HealthProbeArgs {
    /// The URL to check (default: `/healthz` at DEZKY_LISTEN, asked on loopback when that is an
    /// unspecified address such as 0.0.0.0).
    #[arg(long)]
    pub url: Option<String>,
    /// The address the process listens on, as it was started with.
    #[arg(long, env = "DEZKY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
}

impl HealthProbeArgs {
    /// The URL to ask.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let mut addr: SocketAddr = self.listen.parse().with_context(|| {
            format!(
                "DEZKY_LISTEN `{}` is not an address like 127.0.0.1:8080",
                self.listen
            )
        })?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Ok(format!("http://{addr}/healthz"))
    }
}

/// Settings of every subcommand. `Debug` hides server URLs (they may hold passwords).
#[derive(Clone, Args)]
pub struct CommonArgs {
    /// The store: `sqlite://FILE` (embedded default) or `postgres://…`; the queue too, unless it
    /// is on Redis (see DEZKY_QUEUE).
    #[arg(
        long,
        global = true,
        env = "DEZKY_DATABASE_URL",
        default_value = "sqlite://dezky-jobs.db"
    )]
    pub database_url: String,
    /// The queue on Redis: one server's URL, or seed nodes of a Redis Cluster, comma-separated
    /// (a cluster is detected). Unset: the queue lives in the SQLite file.
    #[arg(long, global = true, env = "DEZKY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Where the queue lives: `sqlite` or `postgres` (in the store's database, DEZKY_DATABASE_URL,
    /// so the store's writes and the queue's commit together) or `redis` (DEZKY_REDIS_URL).
    /// Unset: `redis` when DEZKY_REDIS_URL is set, else the store's database.
    #[arg(long, global = true, env = "DEZKY_QUEUE")]
    pub queue: Option<QueueKind>,
    /// Prefix of every Redis key, so deployments can share one Redis.
    #[arg(
        long,
        global = true,
        env = "DEZKY_REDIS_PREFIX",
        default_value = "dezky"
    )]
    pub redis_prefix: String,
    /// Log format.
    #[arg(long, global = true, env = "DEZKY_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// The key that seals secret results: 32 bytes as 64 hex characters. Unset on the SQLite
    /// default: generated into `<db>.secret-key` (mode 0600). Required with PostgreSQL. The
    /// dashboard's session key is derived from it.
    #[arg(long, global = true, env = "DEZKY_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Earlier secret keys, comma-separated, still accepted to open secrets (rotation).
    #[arg(
        long,
        global = true,
        env = "DEZKY_SECRET_KEYS_OLD",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub secret_keys_old: Vec<String>,
    /// Seconds a secret result is kept after its job ended; then it is erased.
    #[arg(
        long,
        global = true,
        env = "DEZKY_SECRET_TTL_SECS",
        default_value_t = 3600
    )]
    pub secret_ttl_secs: u64,
    /// A token that may read `/metrics` and nothing else (Prometheus); ops tokens read it too.
    #[arg(
        long,
        global = true,
        env = "DEZKY_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Registers the test-only kinds (`crash`, `fail`). Never in production.
    #[arg(long, global = true, env = "DEZKY_ENABLE_TEST_KINDS", hide = true)]
    pub enable_test_kinds: bool,
    /// Testing only: die (abort) at this named point — `enqueue:stored` (a route's store write
    /// made, its push not yet) or `complete:stored` (a success's store writes made, its
    /// completion not yet) — to show what each queue setup leaves behind.
    #[arg(long, global = true, env = "DEZKY_CRASH_POINT")]
    pub crash_point: Option<String>,
}

impl std::fmt::Debug for CommonArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonArgs")
            .field(
                "database_url",
                &if self.database_url.starts_with("sqlite:") {
                    self.database_url.as_str()
                } else {
                    "[redacted]"
                },
            )
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[redacted]"))
            .field("redis_prefix", &self.redis_prefix)
            .field("log_format", &self.log_format)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("secret_keys_old", &self.secret_keys_old.len())
            .field("secret_ttl_secs", &self.secret_ttl_secs)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .field("enable_test_kinds", &self.enable_test_kinds)
            .finish()
    }
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `run`: everything in one process.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// API settings.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Scheduler settings.
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
}

/// `scheduler`: its settings, whether Authentik is configured (the seeding and reconciliation
/// schedules run only where it is), and its probes' listener.
#[derive(Debug, Clone, Args)]
pub struct SchedulerCommandArgs {
    /// Scheduler settings.
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    /// Where Authentik is.
    #[command(flatten)]
    pub authentik: AuthentikArgs,
    /// Probes and metrics.
    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// `worker`: its settings and its probes' listener.
#[derive(Debug, Clone, Args)]
pub struct WorkerCommandArgs {
    /// Worker settings.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Probes and metrics.
    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// Where a process without the API serves `/healthz`, `/readyz` and `/metrics`. `Debug`
/// redacts the tokens.
#[derive(Clone, Args)]
pub struct ProbeArgs {
    /// Address of the probes and metrics (default: 127.0.0.1:8081 for `worker`, :8082 for
    /// `scheduler`, so processes on one host are told apart by port).
    #[arg(long, env = "DEZKY_LISTEN")]
    pub listen: Option<String>,
    /// Operators, who may read `/metrics`: comma-separated `name=token` pairs.
    #[arg(
        long,
        env = "DEZKY_OPS_TOKENS",
        default_value = "",
        hide_env_values = true
    )]
    pub ops_tokens: String,
}

impl std::fmt::Debug for ProbeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeArgs")
            .field("listen", &self.listen)
            .field("ops_tokens", &"[redacted]")
            .finish()
    }
}

/// Where a `worker` serves its probes and metrics unless DEZKY_LISTEN says.
pub const WORKER_LISTEN: &str = "127.0.0.1:8081";
/// Where a `scheduler` serves its probes and metrics unless DEZKY_LISTEN says.
pub const SCHEDULER_LISTEN: &str = "127.0.0.1:8082";

impl ProbeArgs {
    /// The listen address, `default` when unset.
    pub fn listen_addr(&self, default: &str) -> anyhow::Result<SocketAddr> {
        let listen = self.listen.as_deref().unwrap_or(default);
        listen
            .parse()
            .with_context(|| format!("DEZKY_LISTEN `{listen}` is not an address like {default}"))
    }

    /// The ops tokens (none is allowed: then only the metrics token reads `/metrics`).
    pub fn tokens(&self, metrics_token: Option<&str>) -> anyhow::Result<Tokens> {
        let ops = TokenSet::parse(&self.ops_tokens)
            .map_err(|e| anyhow::anyhow!("DEZKY_OPS_TOKENS: {e}"))?;
        Ok(Tokens {
            ops,
            metrics: metrics_tokens(metrics_token)?,
            ..Tokens::default()
        })
    }
}

/// The metrics token as a token set (`metrics=<token>`), empty when unset.
pub fn metrics_tokens(token: Option<&str>) -> anyhow::Result<TokenSet> {
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(TokenSet::default()),
        Some(token) => TokenSet::parse(&format!("metrics={token}"))
            .map_err(|e| anyhow::anyhow!("DEZKY_METRICS_TOKEN: {e}")),
    }
}

/// Cron schedules and boot jobs.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// When seeding runs: cron, UTC, five fields or six with a leading seconds field, or `off`.
    #[arg(long, env = "DEZKY_SEED_CRON", default_value = "*/15 * * * *")]
    pub seed_cron: String,
    /// When reconciliation runs: cron as for seeding, or `off`.
    #[arg(long, env = "DEZKY_RECONCILE_CRON", default_value = "0 * * * *")]
    pub reconcile_cron: String,
    /// Ticks no scheduler ran for: `once` (run once on recovery) or `skip`.
    #[arg(long, env = "DEZKY_MISSED_TICKS", default_value = "once")]
    pub missed_ticks: String,
    /// Time between schedule passes, in milliseconds: a tick runs within about this long.
    #[arg(long, env = "DEZKY_SCHEDULE_POLL_MS", default_value_t = 1000)]
    pub schedule_poll_ms: u64,
}

impl SchedulerArgs {
    /// The schedules and boot jobs. The expressions are checked whether or not they run; the
    /// seeding and reconciliation schedules and the seeding on boot run only `with_authentik`
    /// (their jobs need it).
    pub fn schedule_config(
        &self,
        with_authentik: bool,
    ) -> anyhow::Result<dezky_scheduler::ScheduleConfig> {
        use dezky_scheduler::{BootJob, CronExpr, MissedTicks, Schedule, ScheduleConfig};
        let parse = |name: &str, text: &str| -> anyhow::Result<Option<CronExpr>> {
            let text = text.trim();
            if text.eq_ignore_ascii_case("off") {
                return Ok(None);
            }
            CronExpr::parse(text)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let seed = parse("DEZKY_SEED_CRON", &self.seed_cron)?;
        let reconcile = parse("DEZKY_RECONCILE_CRON", &self.reconcile_cron)?;
        let missed = match self.missed_ticks.trim() {
            "once" => MissedTicks::Once,
            "skip" => MissedTicks::Skip,
            other => bail!("DEZKY_MISSED_TICKS must be once or skip, not `{other}`"),
        };
        if self.schedule_poll_ms == 0 {
            bail!("DEZKY_SCHEDULE_POLL_MS must be at least 1");
        }
        let mut config = ScheduleConfig {
            missed,
            poll: Duration::from_millis(self.schedule_poll_ms),
            ..ScheduleConfig::default()
        };
        if !with_authentik {
            return Ok(config);
        }
        for (name, kind, expr) in [
            ("seed", "seed-recovery-flow", seed),
            ("reconcile", "reconcile-tenants", reconcile),
        ] {
            match expr {
                Some(expr) => config.schedules.push(Schedule {
                    name: name.into(),
                    kind: kind.into(),
                    args: serde_json::json!({}),
                    expr,
                }),
                None => config.off.push(name.into()),
            }
        }
        let seed_runs = config.schedules.iter().any(|s| s.name == "seed");
        config.boot.push(BootJob {
            key: "boot:seed".into(),
            kind: "seed-recovery-flow".into(),
            args: serde_json::json!({}),
            window: Duration::from_secs(300),
            schedule: seed_runs.then(|| "seed".into()),
        });
        Ok(config)
    }
}

/// HTTP API settings. `Debug` redacts the tokens.
#[derive(Clone, Args)]
pub struct ApiArgs {
    /// Address to listen on.
    #[arg(long, env = "DEZKY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Callers such as the portal: comma-separated `name=token` pairs.
    #[arg(
        long,
        env = "DEZKY_API_TOKENS",
        default_value = "",
        hide_env_values = true
    )]
    pub api_tokens: String,
    /// Operators (admin routes): comma-separated `name=token` pairs.
    #[arg(
        long,
        env = "DEZKY_OPS_TOKENS",
        default_value = "",
        hide_env_values = true
    )]
    pub ops_tokens: String,
}

impl std::fmt::Debug for ApiArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiArgs")
            .field("listen", &self.listen)
            .field("api_tokens", &"[redacted]")
            .field("ops_tokens", &"[redacted]")
            .finish()
    }
}

/// Worker settings.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Only these kinds (comma-separated); default every kind.
    #[arg(long, env = "DEZKY_WORKER_KINDS", value_delimiter = ',')]
    pub kinds: Option<Vec<String>>,
    /// Attempts running at once per kind (overrides each kind's default).
    #[arg(long, env = "DEZKY_WORKER_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Idle poll for work pushed by other processes, in milliseconds.
    #[arg(long, env = "DEZKY_POLL_INTERVAL_MS", default_value_t = 250)]
    pub poll_interval_ms: u64,
    /// Lease length in seconds: a crashed worker's jobs return after at most this long.
    #[arg(long, env = "DEZKY_LEASE_TTL_SECS", default_value_t = 10)]
    pub lease_ttl_secs: u64,
    /// Seconds running jobs may finish in after SIGTERM/SIGINT.
    #[arg(long, env = "DEZKY_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Seconds a job may wait, added up, on a closed dependency gate (its dependency
    /// unreachable) before it goes dead.
    #[arg(long, env = "DEZKY_GATE_HORIZON_SECS", default_value_t = 86_400)]
    pub gate_horizon_secs: u64,
    /// The Authentik email stage `invite-operator` sends invites through (`delivery: email`).
    #[arg(long, env = "DEZKY_INVITE_EMAIL_STAGE")]
    pub invite_email_stage: Option<String>,
    /// When no recovery link can be made, invite with a temporary password instead.
    #[arg(long, env = "DEZKY_INVITE_PASSWORD_FALLBACK")]
    pub invite_password_fallback: bool,
    /// Where Authentik is, for the jobs that call it.
    #[command(flatten)]
    pub authentik: AuthentikArgs,
}

impl WorkerArgs {
    /// How invites are delivered.
    pub fn invite_settings(&self) -> dezky_jobs::kinds::invite::InviteSettings {
        dezky_jobs::kinds::invite::InviteSettings {
            email_stage: self
                .invite_email_stage
                .clone()
                .filter(|s| !s.trim().is_empty()),
            password_fallback: self.invite_password_fallback,
        }
    }
}

/// Where Authentik is (all unset: no Authentik; jobs that need it cannot run).
#[derive(Clone, Args)]
pub struct AuthentikArgs {
    /// Authentik's API base, e.g. `https://auth.example.eu/api/v3`.
    #[arg(long, env = "DEZKY_AUTHENTIK_URL")]
    pub authentik_url: Option<String>,
    /// An API-intent token.
    #[arg(long, env = "DEZKY_AUTHENTIK_TOKEN", hide_env_values = true)]
    pub authentik_token: Option<String>,
    /// The public host to send as `Host` (recovery links and brands follow it).
    #[arg(long, env = "DEZKY_AUTHENTIK_PUBLIC_HOST")]
    pub authentik_public_host: Option<String>,
}

impl std::fmt::Debug for AuthentikArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthentikArgs")
            .field("authentik_url", &self.authentik_url)
            .field(
                "authentik_token",
                &self.authentik_token.as_ref().map(|_| "[redacted]"),
            )
            .field("authentik_public_host", &self.authentik_public_host)
            .finish()
    }
}

impl AuthentikArgs {
    /// The client configuration, when Authentik is configured (URL and token both, or neither).
    pub fn client_config(&self) -> anyhow::Result<Option<dezky_authentik::ClientConfig>> {
        match (&self.authentik_url, &self.authentik_token) {
            (None, None) => Ok(None),
            (Some(url), Some(token)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("DEZKY_AUTHENTIK_URL must start with http:// or https://");
                }
                let mut config = dezky_authentik::ClientConfig::new(url, token);
                config.public_host = self.authentik_public_host.clone();
                Ok(Some(config))
            }
            _ => bail!("set both DEZKY_AUTHENTIK_URL and DEZKY_AUTHENTIK_TOKEN, or neither"),
        }
    }
}

/// `authentik-sim` settings.
#[derive(Clone, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// The API token callers must send.
    #[arg(long, env = "DEZKY_SIM_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The token of the fault admin endpoint (`/_sim/faults`); default: the API token + `-admin`.
    #[arg(long, env = "DEZKY_SIM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Where objects persist.
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Apply the default blueprints only after this many ms, like a fresh instance.
    #[arg(long, default_value_t = 0)]
    pub blueprints_after_ms: u64,
    /// Start down: `refuse` or `unavailable`.
    #[arg(long)]
    pub down: Option<String>,
    /// Fixed latency per request, ms.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency up to this many ms.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Share of requests answered 5xx.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Answer every request 429 with this Retry-After (s).
    #[arg(long)]
    pub rate_limit_retry_after: Option<u64>,
    /// Share of writes applied, then cut off before the answer.
    #[arg(long, default_value_t = 0.0)]
    pub reset_after_commit_rate: f64,
    /// Send bodies slowly: ms between 16-byte chunks.
    #[arg(long, default_value_t = 0)]
    pub slow_body_ms: u64,
    /// Email stages to have, by name, comma-separated (their mails: `GET /_sim/outbox`).
    #[arg(long, value_delimiter = ',')]
    pub email_stages: Vec<String>,
}

impl std::fmt::Debug for SimArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimArgs")
            .field("listen", &self.listen)
            .field("state", &self.state)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimArgs {
    /// The simulator configuration.
    pub fn sim_config(&self) -> anyhow::Result<dezky_authentik_sim::SimConfig> {
        use dezky_authentik_sim::faults::{Down, Faults};
        let down = match self.down.as_deref() {
            None => None,
            Some("refuse") => Some(Down::Refuse),
            Some("unavailable") => Some(Down::Unavailable),
            Some(other) => bail!("--down must be refuse or unavailable, not `{other}`"),
        };
        for (name, rate) in [
            ("--error-rate", self.error_rate),
            ("--reset-after-commit-rate", self.reset_after_commit_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                bail!("{name} must be between 0 and 1");
            }
        }
        let mut config = dezky_authentik_sim::SimConfig::new(&self.token);
        if let Some(admin) = &self.admin_token {
            config.admin_token = secrecy::SecretString::from(admin.clone());
        }
        config.state_file = self.state.clone();
        config.seed = self.seed;
        config.blueprints_after = Duration::from_millis(self.blueprints_after_ms);
        config.faults = Faults {
            down,
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            error_rate: self.error_rate,
            rate_limit_retry_after: self.rate_limit_retry_after,
            reset_after_commit_rate: self.reset_after_commit_rate,
            slow_body_ms: self.slow_body_ms,
            ..Faults::default()
        };
        config.email_stages = self.email_stages.clone();
        Ok(config)
    }
}

/// `bench` settings.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Backend to measure.
    #[arg(long, default_value = "sqlite")]
    pub backend: BenchBackend,
    /// Jobs in the backlog.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// Worker concurrency.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// `plain`: no-op jobs; `retry`: each fails once, then succeeds.
    #[arg(long, default_value = "plain")]
    pub mode: BenchMode,
    /// Instead of draining: fill a backlog of --jobs queued jobs, then time a search for a value
    /// only the oldest job has (following cursors) and the per-state counts.
    #[arg(long)]
    pub search: bool,
}

/// Backends `bench` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    /// A throwaway SQLite file.
    Sqlite,
    /// A throwaway key prefix on DEZKY_REDIS_URL.
    Redis,
    /// A throwaway schema in the postgres:// DEZKY_DATABASE_URL.
    Postgres,
}

/// Benchmark modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// No-op jobs.
    Plain,
    /// Fail once, succeed on the retry.
    Retry,
}

/// Which backend holds the queue (`DEZKY_QUEUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueKind {
    /// In the store's SQLite file.
    Sqlite,
    /// In the store's PostgreSQL database.
    Postgres,
    /// On DEZKY_REDIS_URL.
    Redis,
}

/// Where the queue lives, as validated.
#[derive(Clone, PartialEq, Eq)]
pub enum QueueLocation {
    /// In the SQLite file at this URL.
    Sqlite(String),
    /// In the PostgreSQL database at this URL (may hold a password: never shown).
    Postgres(String),
    /// On Redis.
    Redis {
        /// The server (may hold a password: never shown).
        url: String,
        /// Key prefix.
        prefix: String,
    },
}

impl std::fmt::Debug for QueueLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueLocation::Sqlite(url) => f.debug_tuple("Sqlite").field(url).finish(),
            QueueLocation::Postgres(_) => f.write_str("Postgres"),
            QueueLocation::Redis { prefix, .. } => f
                .debug_struct("Redis")
                .field("prefix", prefix)
                .finish_non_exhaustive(),
        }
    }
}

impl CommonArgs {
    /// How secret results are sealed and kept (the key itself is found when the store opens).
    pub fn secret_settings(&self) -> anyhow::Result<crate::secret_key::SecretSettings> {
        if self.secret_ttl_secs == 0 {
            bail!("DEZKY_SECRET_TTL_SECS must be at least 1");
        }
        let settings = crate::secret_key::SecretSettings {
            key: self.secret_key.clone().filter(|k| !k.trim().is_empty()),
            old: self
                .secret_keys_old
                .iter()
                .filter(|k| !k.trim().is_empty())
                .cloned()
                .collect(),
            ttl: Duration::from_secs(self.secret_ttl_secs),
        };
        // Refuses a PostgreSQL store without a key, and a malformed key, before anything starts.
        if settings.key.is_some() || !self.database_url.trim().starts_with("sqlite:") {
            settings.keys(self.database_url.trim())?;
        }
        Ok(settings)
    }

    /// Validates the store and queue URLs.
    pub fn queue_location(&self) -> anyhow::Result<QueueLocation> {
        let url = self.database_url.trim();
        let is_sqlite = url.starts_with("sqlite:");
        let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !is_sqlite && !is_postgres {
            bail!(
                "DEZKY_DATABASE_URL must start with sqlite:// or postgres:// (got a URL with another scheme)"
            );
        }
        let kind = match (self.queue, &self.redis_url) {
            (Some(kind), _) => kind,
            (None, Some(_)) => QueueKind::Redis,
            (None, None) if is_postgres => QueueKind::Postgres,
            (None, None) => QueueKind::Sqlite,
        };
        match (kind, &self.redis_url) {
            (QueueKind::Sqlite, _) if is_postgres => bail!(
                "DEZKY_QUEUE=sqlite keeps the queue in the store's SQLite file, but \
                 DEZKY_DATABASE_URL is a postgres:// URL (use DEZKY_QUEUE=postgres)"
            ),
            (QueueKind::Sqlite, _) => Ok(QueueLocation::Sqlite(url.to_owned())),
            (QueueKind::Postgres, _) if is_sqlite => bail!(
                "DEZKY_QUEUE=postgres keeps the queue in the store's PostgreSQL database, but \
                 DEZKY_DATABASE_URL is a sqlite:// URL (set a postgres:// one)"
            ),
            (QueueKind::Postgres, _) => Ok(QueueLocation::Postgres(url.to_owned())),
            (QueueKind::Redis, None) => bail!("DEZKY_QUEUE=redis needs DEZKY_REDIS_URL"),
            (QueueKind::Redis, Some(redis)) => {
                if !["redis://", "rediss://", "unix://"]
                    .iter()
                    .any(|s| redis.starts_with(s))
                {
                    bail!("DEZKY_REDIS_URL must start with redis://, rediss:// or unix://");
                }
                let prefix = self.redis_prefix.trim();
                if prefix.is_empty() || prefix.contains(['{', '}', ' ']) {
                    bail!("DEZKY_REDIS_PREFIX must be non-empty, without braces or spaces");
                }
                Ok(QueueLocation::Redis {
                    url: redis.clone(),
                    prefix: prefix.to_owned(),
                })
            }
        }
    }
}

impl ApiArgs {
    /// The listen address.
    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "DEZKY_LISTEN `{}` is not an address like 127.0.0.1:8080",
                self.listen
            )
        })
    }

    /// The parsed tokens; at least one must exist.
    pub fn tokens(&self) -> anyhow::Result<Tokens> {
        let api = TokenSet::parse(&self.api_tokens)
            .map_err(|e| anyhow::anyhow!("DEZKY_API_TOKENS: {e}"))?;
        let ops = TokenSet::parse(&self.ops_tokens)
            .map_err(|e| anyhow::anyhow!("DEZKY_OPS_TOKENS: {e}"))?;
        if api.is_empty() && ops.is_empty() {
            bail!(
                "no API tokens: set DEZKY_API_TOKENS (and DEZKY_OPS_TOKENS for admin routes) to name=token pairs, e.g. DEZKY_API_TOKENS=portal=<at least 8 random characters>"
            );
        }
        Ok(Tokens {
            api,
            ops,
            ..Tokens::default()
        })
    }
}

impl WorkerArgs {
    /// The worker configuration.
    pub fn worker_config(&self) -> anyhow::Result<WorkerConfig> {
        if self.lease_ttl_secs < 2 {
            bail!("DEZKY_LEASE_TTL_SECS must be at least 2");
        }
        if self.poll_interval_ms == 0 {
            bail!("DEZKY_POLL_INTERVAL_MS must be at least 1");
        }
        if self.concurrency == Some(0) {
            bail!("DEZKY_WORKER_CONCURRENCY must be at least 1");
        }
        if self.gate_horizon_secs == 0 {
            bail!("DEZKY_GATE_HORIZON_SECS must be at least 1");
        }
        let lease_ttl = Duration::from_secs(self.lease_ttl_secs);
        Ok(WorkerConfig {
            lease_ttl,
            heartbeat: lease_ttl / 3,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            kinds: self.kinds.clone(),
            concurrency: self.concurrency,
            gate_horizon: Duration::from_secs(self.gate_horizon_secs),
            ..WorkerConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("dezky-jobs").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        let cli = parse(&[
            "run",
            "--api-tokens",
            "portal=supersecret1",
            "--ops-tokens",
            "ops=supersecret2",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
    }

    #[test]
    fn schedules_are_checked_and_run_only_with_authentik() {
        let defaults = parse(&["run"]);
        let Command::Run(run) = &defaults.command else {
            panic!("run")
        };
        let config = run.scheduler.schedule_config(true).unwrap();
        let named: Vec<(&str, &str)> = config
            .schedules
            .iter()
            .map(|s| (s.name.as_str(), s.expr.as_str()))
            .collect();
        assert_eq!(
            named,
            [("seed", "*/15 * * * *"), ("reconcile", "0 * * * *")]
        );
        assert_eq!(config.boot.len(), 1, "seeding on boot");
        let without = run.scheduler.schedule_config(false).unwrap();
        assert!(without.schedules.is_empty() && without.boot.is_empty());
        let off = parse(&[
            "run",
            "--seed-cron",
            "off",
            "--reconcile-cron",
            "*/5 * * * * *",
        ]);
        let Command::Run(run) = &off.command else {
            panic!("run")
        };
        let config = run.scheduler.schedule_config(true).unwrap();
        assert_eq!(config.schedules.len(), 1);
        assert_eq!(config.schedules[0].name, "reconcile");
        for (flag, value, variable) in [
            ("--seed-cron", "61 * * * *", "DEZKY_SEED_CRON"),
            ("--reconcile-cron", "* * *", "DEZKY_RECONCILE_CRON"),
            ("--missed-ticks", "sometimes", "DEZKY_MISSED_TICKS"),
            ("--schedule-poll-ms", "0", "DEZKY_SCHEDULE_POLL_MS"),
        ] {
            let cli = parse(&["scheduler", flag, value]);
            let Command::Scheduler(args) = &cli.command else {
                panic!("scheduler")
            };
            // Checked whether or not the schedules run here.
            let error = args
                .scheduler
                .schedule_config(false)
                .unwrap_err()
                .to_string();
            assert!(error.contains(variable), "{flag} {value}: {error}");
        }
    }

    #[test]
    fn each_role_listens_on_its_own_port_unless_told() {
        let worker = parse(&["worker"]);
        let Command::Worker(w) = &worker.command else {
            panic!("worker")
        };
        assert_eq!(w.probe.listen_addr(WORKER_LISTEN).unwrap().port(), 8081);
        let scheduler = parse(&["scheduler", "--listen", "0.0.0.0:9100"]);
        let Command::Scheduler(s) = &scheduler.command else {
            panic!("scheduler")
        };
        assert_eq!(s.probe.listen_addr(SCHEDULER_LISTEN).unwrap().port(), 9100);
        let api = parse(&["api"]);
        let Command::Api(a) = &api.command else {
            panic!("api")
        };
        assert_eq!(a.listen_addr().unwrap().port(), 8080);
        let probe = |args: &[&str]| {
            let Command::Probe(p) = parse(args).command else {
                panic!("probe")
            };
            p.url()
        };
        assert_eq!(
            probe(&["probe", "--listen", "0.0.0.0:8081"]).unwrap(),
            "http://127.0.0.1:8081/healthz"
        );
        assert_eq!(
            probe(&["probe", "--listen", "[::]:9000"]).unwrap(),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            probe(&["probe", "--url", "http://api:8080/healthz"]).unwrap(),
            "http://api:8080/healthz"
        );
        assert!(probe(&["probe", "--listen", "api:8080"]).is_err());
        let tokens = w.probe.tokens(Some("scrape-token-1")).unwrap();
        assert!(!tokens.metrics.is_empty() && tokens.api.is_empty());
        assert!(
            w.probe.tokens(Some("short")).is_err(),
            "tokens are at least 8 characters"
        );
    }

    #[test]
    fn bad_configuration_is_refused_with_a_message() {
        let no_tokens = parse(&["api"]);
        let Command::Api(api) = &no_tokens.command else {
            panic!("api")
        };
        assert!(
            api.tokens()
                .unwrap_err()
                .to_string()
                .contains("DEZKY_API_TOKENS")
        );
        let bad_listen = parse(&["api", "--listen", "localhost"]);
        let Command::Api(api) = &bad_listen.command else {
            panic!("api")
        };
        assert!(api.listen_addr().is_err());
        assert!(
            parse(&["migrate", "--database-url", "mysql://x"])
                .common
                .queue_location()
                .is_err()
        );
        assert_eq!(
            parse(&["migrate", "--database-url", "postgres://u:hunter2@x/y"])
                .common
                .queue_location()
                .unwrap(),
            QueueLocation::Postgres("postgres://u:hunter2@x/y".into()),
            "unset, the queue is in the store's database"
        );
        let postgres_on_sqlite = parse(&["migrate", "--queue", "postgres"]).common;
        assert!(
            postgres_on_sqlite
                .queue_location()
                .is_err_and(|e| e.to_string().contains("DEZKY_QUEUE=postgres")),
            "a PostgreSQL queue with a SQLite store is refused"
        );
        assert!(
            parse(&[
                "migrate",
                "--queue",
                "sqlite",
                "--database-url",
                "postgres://x/y"
            ])
            .common
            .queue_location()
            .is_err()
        );
        assert!(
            parse(&["migrate", "--queue", "redis"])
                .common
                .queue_location()
                .is_err()
        );
        assert_eq!(
            parse(&[
                "migrate",
                "--queue",
                "postgres",
                "--database-url",
                "postgres://x/y",
                "--redis-url",
                "redis://h:6379"
            ])
            .common
            .queue_location()
            .unwrap(),
            QueueLocation::Postgres("postgres://x/y".into()),
            "DEZKY_QUEUE wins over DEZKY_REDIS_URL"
        );
        assert!(
            !format!(
                "{:?}",
                QueueLocation::Postgres("postgres://u:hunter2@x/y".into())
            )
            .contains("hunter2")
        );
        assert!(
            parse(&[
                "migrate",
                "--database-url",
                "postgres://x/y",
                "--redis-url",
                "redis://h:6379"
            ])
            .common
            .queue_location()
            .is_ok()
        );
        assert!(
            parse(&["migrate", "--redis-url", "http://x"])
                .common
                .queue_location()
                .is_err()
        );
        let redis = parse(&[
            "migrate",
            "--redis-url",
            "redis://:hunter2hunter2@h:6379",
            "--redis-prefix",
            "p",
        ]);
        let location = redis.common.queue_location().unwrap();
        assert!(matches!(&location, QueueLocation::Redis { prefix, .. } if prefix == "p"));
        assert!(
            !format!("{location:?} {redis:?}").contains("hunter2"),
            "the Redis password is never shown"
        );
        assert_eq!(
            parse(&["migrate", "--database-url", "sqlite://a.db"])
                .common
                .queue_location()
                .unwrap(),
            QueueLocation::Sqlite("sqlite://a.db".into())
        );
        let zero = parse(&["worker", "--concurrency", "0"]);
        let Command::Worker(w) = &zero.command else {
            panic!("worker")
        };
        assert!(w.worker.worker_config().is_err());
    }
}
