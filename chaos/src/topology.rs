//! The processes of a chaos run on loopback, each on its own port: a Redis of its own (append-only
//! file, fsync on every write) when the queue is Redis's, the Authentik simulator with a state
//! file, one `api`, three `worker` and two `scheduler` processes of the real binary. Each can be
//! SIGKILLed, SIGSTOPped, SIGCONTed and started again on the same port and files; their logs go
//! to files in the run's folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rand::distr::{Alphanumeric, SampleString};

/// The portal caller's name in the run's tokens.
pub const PORTAL: &str = "portal";

/// Where the queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    /// The embedded default: one SQLite file, queue and store.
    Sqlite,
    /// A Redis of the run's own, `appendonly yes`, `appendfsync always`.
    Redis,
}

/// A role in the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Role {
    /// The run's Redis.
    Redis,
    /// The Authentik simulator.
    Sim,
    /// The HTTP API.
    Api,
    /// A worker (0, 1, 2).
    Worker(u8),
    /// A scheduler (0, 1).
    Scheduler(u8),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Redis => write!(f, "redis"),
            Role::Sim => write!(f, "sim"),
            Role::Api => write!(f, "api"),
            Role::Worker(n) => write!(f, "worker-{n}"),
            Role::Scheduler(n) => write!(f, "scheduler-{n}"),
        }
    }
}

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct TopologyConfig {
    /// The real binary.
    pub binary: PathBuf,
    /// The run's folder: databases, the state file, the append-only file, logs.
    pub dir: PathBuf,
    /// Where the queue lives.
    pub queue: QueueKind,
    /// The store: `None` is a SQLite file in `dir` (the queue's own when it is SQLite's).
    pub store_url: Option<String>,
    /// Lease length.
    pub lease_ttl_secs: u64,
    /// The seeding's and the reconciliation's tick periods, seconds (each divides 60).
    pub seed_every_secs: u64,
    /// Likewise for `reconcile-tenants`.
    pub reconcile_every_secs: u64,
    /// The simulator's share of writes applied and then cut off before the answer.
    pub reset_after_commit_rate: f64,
    /// The simulator's seed.
    pub seed: u64,
}

/// One process slot: how to start it, and the process when it runs.
#[derive(Debug)]
struct Slot {
    role: Role,
    port: u16,
    child: Option<Child>,
    stopped: bool,
}

/// The running topology.
#[derive(Debug)]
pub struct Topology {
    config: TopologyConfig,
    slots: Vec<Slot>,
    /// The portal's token.
    pub portal_token: String,
    /// The simulator's API token (the product's Authentik token).
    sim_token: String,
    /// The operators' token (every product process is given the same).
    ops_token: String,
    /// The simulator's admin token.
    pub sim_admin_token: String,
    redis_prefix: String,
    secret_key: String,
}

fn free_port(taken: &[u16]) -> std::io::Result<u16> {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
}

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

impl Topology {
    /// Ports and tokens for `config`; nothing started yet.
    pub fn new(config: TopologyConfig) -> std::io::Result<Self> {
        let mut roles = vec![Role::Sim, Role::Api];
        if config.queue == QueueKind::Redis {
            roles.insert(0, Role::Redis);
        }
        roles.extend((0..3).map(Role::Worker));
        roles.extend((0..2).map(Role::Scheduler));
        let mut slots = Vec::new();
        let mut taken = Vec::new();
        for role in roles {
            let port = free_port(&taken)?;
            taken.push(port);
            slots.push(Slot {
                role,
                port,
                child: None,
                stopped: false,
            });
        }
        std::fs::create_dir_all(config.dir.join("logs"))?;
        let key: [u8; 32] = rand::random();
        Ok(Self {
            config,
            slots,
            portal_token: token(),
            sim_token: token(),
            ops_token: token(),
            sim_admin_token: token(),
            redis_prefix: "chaos".into(),
            secret_key: key.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// Every role, in start order.
    pub fn roles(&self) -> Vec<Role> {
        self.slots.iter().map(|s| s.role).collect()
    }

    /// The port `role` listens on.
    pub fn port(&self, role: Role) -> u16 {
        self.slot(role).port
    }

    fn slot(&self, role: Role) -> &Slot {
        self.slots
            .iter()
            .find(|s| s.role == role)
            .unwrap_or_else(|| unreachable!("every role has a slot"))
    }

    fn slot_mut(&mut self, role: Role) -> &mut Slot {
        self.slots
            .iter_mut()
            .find(|s| s.role == role)
            .unwrap_or_else(|| unreachable!("every role has a slot"))
    }

    /// The API's base URL.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port(Role::Api))
    }

    /// The simulator's base URL (its admin endpoints are under `/_sim/`).
    pub fn sim_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port(Role::Sim))
    }

    /// The simulator's state file.
    pub fn state_file(&self) -> PathBuf {
        self.config.dir.join("authentik.json")
    }

    /// The queue's location, as the harness opens it to observe.
    pub fn queue_location(&self) -> (String, Option<(String, String)>) {
        let redis = (self.config.queue == QueueKind::Redis).then(|| {
            (
                format!("redis://127.0.0.1:{}", self.port(Role::Redis)),
                self.redis_prefix.clone(),
            )
        });
        (self.database_url(), redis)
    }

    /// The store (and, on SQLite, the queue).
    pub fn database_url(&self) -> String {
        self.config
            .store_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.config.dir.join("jobs.db").display()))
    }

    /// The process id of `role`, while it runs.
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.slot(role).child.as_ref().map(Child::id)
    }

    /// Whether `role` runs (stopped or not).
    pub fn is_running(&self, role: Role) -> bool {
        self.slot(role).child.is_some()
    }

    /// Whether `role`'s process ended by itself (it is reaped: `start` starts it again). A
    /// process that cannot reach Redis at start exits, as it should under a supervisor.
    pub fn exited(&mut self, role: Role) -> bool {
        let slot = self.slot_mut(role);
        let ended = slot
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        if ended {
            slot.child = None;
            slot.stopped = false;
        }
        ended
    }

    /// Whether `role` is SIGSTOPped.
    pub fn is_stopped(&self, role: Role) -> bool {
        self.slot(role).stopped
    }

    fn command(&self, role: Role) -> Command {
        let c = &self.config;
        let port = self.port(role);
        let mut cmd;
        match role {
            Role::Redis => {
                cmd = Command::new("redis-server");
                cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--appendonly", "yes", "--appendfsync", "always"])
                    .args(["--save", "", "--dir"])
                    .arg(&c.dir);
                return cmd;
            }
            Role::Sim => {
                cmd = Command::new(&c.binary);
                cmd.arg("authentik-sim")
                    .args(["--listen", &format!("127.0.0.1:{port}")])
                    .args(["--token", &self.sim_token])
                    .args(["--admin-token", &self.sim_admin_token])
                    .args(["--seed", &c.seed.to_string()])
                    .args([
                        "--reset-after-commit-rate",
                        &c.reset_after_commit_rate.to_string(),
                    ])
                    .arg("--state")
                    .arg(self.state_file());
                return cmd;
            }
            Role::Api => {
                cmd = Command::new(&c.binary);
                cmd.arg("api");
            }
            Role::Worker(_) => {
                cmd = Command::new(&c.binary);
                cmd.arg("worker");
            }
            Role::Scheduler(_) => {
                cmd = Command::new(&c.binary);
                cmd.arg("scheduler");
            }
        }
        for key in ["DEZKY_REDIS_URL", "DATABASE_URL", "DEZKY_METRICS_TOKEN"] {
            cmd.env_remove(key);
        }
        let (database, redis) = self.queue_location();
        cmd.env("DEZKY_LISTEN", format!("127.0.0.1:{port}"))
            .env("DEZKY_DATABASE_URL", database)
            .env(
                "DEZKY_API_TOKENS",
                format!("{PORTAL}={}", self.portal_token),
            )
            .env("DEZKY_OPS_TOKENS", format!("ops={}", self.ops_token))
            .env("DEZKY_ENABLE_TEST_KINDS", "true")
            .env("DEZKY_POLL_INTERVAL_MS", "100")
            .env("DEZKY_LEASE_TTL_SECS", c.lease_ttl_secs.to_string())
            .env("DEZKY_SHUTDOWN_GRACE_SECS", "5")
            .env("DEZKY_AUTHENTIK_URL", format!("{}/api/v3", self.sim_url()))
            .env("DEZKY_AUTHENTIK_TOKEN", &self.sim_token)
            .env("DEZKY_AUTHENTIK_PUBLIC_HOST", "auth.chaos.example")
            .env("DEZKY_SECRET_KEY", &self.secret_key)
            .env(
                "DEZKY_SEED_CRON",
                format!("*/{} * * * * *", c.seed_every_secs),
            )
            .env(
                "DEZKY_RECONCILE_CRON",
                format!("*/{} * * * * *", c.reconcile_every_secs),
            )
            .env("DEZKY_SCHEDULE_POLL_MS", "200")
            .env("RUST_LOG", "info,sqlx=warn");
        if let Some((url, prefix)) = redis {
            cmd.env("DEZKY_REDIS_URL", url)
                .env("DEZKY_REDIS_PREFIX", prefix);
        }
        cmd
    }

    /// Starts `role` (if it does not run), its output appended to its log file.
    pub fn start(&mut self, role: Role) -> std::io::Result<()> {
        if self.is_running(role) && !self.exited(role) {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file(role))?;
        let child = self
            .command(role)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| std::io::Error::other(format!("cannot start {role}: {e}")))?;
        let slot = self.slot_mut(role);
        slot.child = Some(child);
        slot.stopped = false;
        Ok(())
    }

    /// Where `role` logs.
    pub fn log_file(&self, role: Role) -> PathBuf {
        self.config.dir.join("logs").join(format!("{role}.log"))
    }

    /// SIGKILLs `role` and reaps it.
    pub fn kill(&mut self, role: Role) {
        let slot = self.slot_mut(role);
        if let Some(mut child) = slot.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        slot.stopped = false;
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`) to `role`.
    pub fn signal(&mut self, role: Role, signal: &str) {
        let Some(pid) = self.pid(role) else {
            return;
        };
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
        match signal {
            "STOP" => self.slot_mut(role).stopped = true,
            "CONT" => self.slot_mut(role).stopped = false,
            _ => {}
        }
    }

    /// The run's folder.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for role in self.roles() {
            self.kill(role);
        }
    }
}
