//! Test harness: `spawn_app` starts the real application (API, workers, scheduler) on port 0
//! with its own SQLite file, so tests run in parallel and never share rows. Waiting is done by
//! polling with a deadline, never by sleeping for a guessed time.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dezky_api_shim::{TokenSet, Tokens};
use dezky_cli::app::{ApiSettings, Application, SchedulerSettings, Settings};
use dezky_cli::config::QueueLocation;
use dezky_cli::shutdown::Shutdown;
use dezky_queue::DynQueue;
use dezky_scheduler::MaintenanceConfig;
use dezky_worker::WorkerConfig;
use serde_json::Value;

pub mod ui;
pub mod webdriver;

pub const PORTAL_TOKEN: &str = "portal-test-token";
pub const OPS_TOKEN: &str = "ops-test-token-1";
/// The token that reads `/metrics` only.
pub const METRICS_TOKEN: &str = "metrics-test-token";
/// A second API caller (`crm`), to show callers do not see each other's jobs.
pub const CRM_TOKEN: &str = "crm-test-token-1";

/// A running application.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub queue: DynQueue,
    pub store: dezky_store::Store,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub db_url: String,
    pub dir: tempfile::TempDir,
}

/// Worker settings for fast tests: short leases and beats, a quick poll.
pub fn fast_workers() -> WorkerConfig {
    WorkerConfig {
        lease_ttl: Duration::from_secs(2),
        heartbeat: Duration::from_millis(300),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerConfig::default()
    }
}

/// Starts the app with `workers` (none: API only) on its own SQLite file.
pub async fn spawn_app_with(workers: Option<WorkerConfig>) -> TestApp {
    spawn_app_on(None, workers).await
}

/// Starts the app with its queue at `queue` (default: its own SQLite file).
pub async fn spawn_app_on(queue: Option<QueueLocation>, workers: Option<WorkerConfig>) -> TestApp {
    spawn_app_tuned(queue, workers, |_| {}).await
}

/// Starts the app with its queue at `queue`, its settings changed by `tune` first.
pub async fn spawn_app_tuned(
    queue: Option<QueueLocation>,
    workers: Option<WorkerConfig>,
    tune: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let tokens = Tokens {
        api: TokenSet::parse(&format!("portal={PORTAL_TOKEN},crm={CRM_TOKEN}")).expect("tokens"),
        ops: TokenSet::parse(&format!("ops={OPS_TOKEN}")).expect("tokens"),
        metrics: TokenSet::parse(&format!("metrics={METRICS_TOKEN}")).expect("tokens"),
    };
    let mut settings = Settings {
        queue: queue.unwrap_or_else(|| QueueLocation::Sqlite(db_url.clone())),
        store: db_url.clone(),
        test_kinds: true,
        api: Some(ApiSettings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            tokens,
            probes_only: false,
        }),
        workers,
        scheduler: Some(SchedulerSettings {
            maintenance: MaintenanceConfig {
                every: Duration::from_millis(200),
                ..MaintenanceConfig::default()
            },
            schedules: Default::default(),
        }),
        authentik: None,
        secrets: dezky_cli::secret_key::SecretSettings {
            key: None,
            old: vec![],
            ttl: Duration::from_secs(3600),
        },
        invites: Default::default(),
    };
    tune(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let addr = app.local_addr().expect("bound");
    let queue = app.queue();
    let store = app.store();
    let shutdown = Shutdown::default();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        client: http(),
        queue,
        store,
        shutdown,
        handle,
        db_url,
        dir,
    }
}

/// Starts the app with fast workers.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Some(fast_workers())).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to `/v1/jobs` with the portal token; answers the response.
    pub async fn enqueue(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/jobs"))
            .bearer_auth(PORTAL_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Enqueues and answers the new job's id, asserting 202.
    pub async fn enqueue_ok(&self, body: Value) -> String {
        let response = self.enqueue(body).await;
        assert_eq!(response.status(), 202, "enqueue");
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// GETs a job's status as JSON.
    pub async fn job(&self, id: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/v1/jobs/{id}")))
            .bearer_auth(PORTAL_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// Polls a job until `done` holds for it, failing after `within`.
    pub async fn wait_for_job(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} did not reach the expected state in {within:?}; last seen: {job}"
            );
        }
    }

    /// Stops the app and waits for it.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.handle
            .await
            .expect("app task")
            .expect("app ran cleanly");
    }
}

/// Polls `check` every 20 ms until it answers `true` (→ `true`) or `within` passes (→ `false`).
pub async fn poll_until<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

/// Whether a job JSON is in `state`.
pub fn in_state(state: &'static str) -> impl Fn(&Value) -> bool {
    move |job| job["state"] == state
}

/// An HTTP client for tests (the TLS provider installed first, as reqwest is built without one).
pub fn http() -> reqwest::Client {
    dezky_authentik::client::install_crypto_provider();
    reqwest::Client::new()
}

/// A port free right now on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `/readyz` of the process on `port` until it answers 200 (→ `true`) or 30 s pass.
pub async fn wait_ready(client: &reqwest::Client, port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/readyz");
    poll_until(Duration::from_secs(30), || async {
        client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await
}

/// Starts the real binary's `run` on `port` with the portal test token, `env` on top; its logs
/// go to a file of `DEZKY_TEST_LOG_DIR` at debug level when that is set (the suite's log scan
/// reads them for secrets: `scripts/secrets-in-logs.sh`), else nowhere.
pub fn start_binary(port: u16, env: &[(&str, String)]) -> std::process::Child {
    let Some(dir) = std::env::var_os("DEZKY_TEST_LOG_DIR") else {
        return start_binary_logging(port, env, std::process::Stdio::null());
    };
    let test = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let path = std::path::Path::new(&dir).join(format!("{test}-{}-{port}.log", std::process::id()));
    let logs = std::fs::File::create(&path).expect("log file");
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "RUST_LOG") {
        env.push((
            "RUST_LOG",
            "debug,h2=info,hyper=info,reqwest=info,sqlx=warn".into(),
        ));
    }
    start_binary_logging(port, &env, logs)
}

/// [`start_binary`], its logs (stderr) sent to `logs`.
pub fn start_binary_logging(
    port: u16,
    env: &[(&str, String)],
    logs: impl Into<std::process::Stdio>,
) -> std::process::Child {
    start_subcommand("run", port, env, logs)
}

/// The real binary's `subcommand` (`run`, `api`, `worker`, `scheduler`) listening on `port`,
/// with the test tokens, `env` on top, its logs (stderr) sent to `logs`.
pub fn start_subcommand(
    subcommand: &str,
    port: u16,
    env: &[(&str, String)],
    logs: impl Into<std::process::Stdio>,
) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dezky-jobs"));
    command
        .arg(subcommand)
        .env("DEZKY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "DEZKY_API_TOKENS",
            format!("portal={PORTAL_TOKEN},crm={CRM_TOKEN}"),
        )
        .env("DEZKY_OPS_TOKENS", format!("ops={OPS_TOKEN}"))
        .env_remove("DEZKY_REDIS_URL")
        .env_remove("DEZKY_AUTHENTIK_URL")
        .env_remove("DEZKY_AUTHENTIK_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(logs);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("start dezky-jobs")
}

/// A child process, killed when dropped (a failed test leaves none behind).
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Enqueues `body` on the process listening on `port` with the portal token; answers the id.
pub async fn enqueue_at(client: &reqwest::Client, port: u16, body: Value) -> dezky_queue::JobId {
    let r = client
        .post(format!("http://127.0.0.1:{port}/v1/jobs"))
        .bearer_auth(PORTAL_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    dezky_queue::JobId(
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The job `id` as the process listening on `port` shows it to the portal token.
pub async fn job_at(client: &reqwest::Client, port: u16, id: &str) -> Value {
    let url = format!("http://127.0.0.1:{port}/v1/jobs/{id}");
    get_json(client, &url, Some(PORTAL_TOKEN)).await
}

/// `GET url` (with `token` as bearer, if any), its body as JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// Three `run` processes on one Redis queue (a fresh prefix) and one new store file in `dir`
/// (they migrate it in turns as they start together), test kinds on, `extra` settings on top,
/// their logs in `dir/process-<n>.log`; answers once all three are ready. The guard cleans the
/// prefix up.
pub async fn start_three_on_redis(
    client: &reqwest::Client,
    dir: &std::path::Path,
    extra: &[(&str, String)],
) -> (
    [u16; 3],
    Vec<Process>,
    dezky_queue::contract::redis_prefix::PrefixGuard,
) {
    let (prefix, guard) = dezky_queue::contract::redis_prefix::fresh_prefix();
    let mut env = vec![
        (
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.join("store.db").display()),
        ),
        (
            "DEZKY_REDIS_URL",
            dezky_queue::contract::redis_prefix::redis_url(),
        ),
        ("DEZKY_REDIS_PREFIX", prefix),
        ("DEZKY_ENABLE_TEST_KINDS", "true".to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    let (ports, processes) = start_three(client, dir, &env).await;
    (ports, processes, guard)
}

/// Three `run` processes on one SQLite file (queue and store), each with `extra` on top, their
/// logs in `dir/process-<n>.log`; answers once all three are ready.
pub async fn start_three_on_sqlite(
    client: &reqwest::Client,
    dir: &std::path::Path,
    extra: &[(&str, String)],
) -> ([u16; 3], Vec<Process>) {
    let mut env = vec![
        (
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.join("jobs.db").display()),
        ),
        ("DEZKY_ENABLE_TEST_KINDS", "true".to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    start_three(client, dir, &env).await
}

async fn start_three(
    client: &reqwest::Client,
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> ([u16; 3], Vec<Process>) {
    let mut ports = [free_port(), free_port(), free_port()];
    while ports[1] == ports[0] || ports[2] == ports[0] || ports[2] == ports[1] {
        ports = [free_port(), free_port(), free_port()];
    }
    let processes = ports
        .iter()
        .enumerate()
        .map(|(n, &port)| {
            let logs =
                std::fs::File::create(dir.join(format!("process-{n}.log"))).expect("log file");
            Process(start_binary_logging(port, env, logs))
        })
        .collect();
    for (n, &port) in ports.iter().enumerate() {
        if !wait_ready(client, port).await {
            let logs =
                std::fs::read_to_string(dir.join(format!("process-{n}.log"))).unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(30).collect();
            panic!(
                "process {n} did not come up; its last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
    (ports, processes)
}

/// Polls the process on `port` until every job of `ids` succeeded (→ `true`) or `within` passes.
pub async fn all_succeed(
    client: &reqwest::Client,
    port: u16,
    ids: &[String],
    within: Duration,
) -> bool {
    poll_until(within, || async {
        for id in ids {
            if job_at(client, port, id).await["state"] != "succeeded" {
                return false;
            }
        }
        true
    })
    .await
}
