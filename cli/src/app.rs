//! The application: opens the queue, then runs any combination of the API, the workers and the
//! scheduler until told to stop. `main` and the tests build it the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use dezky_api_shim::{AppState, Tokens};
use dezky_jobs::Registry;
use dezky_queue::DynQueue;
use dezky_queue::postgres::{PostgresQueue, PostgresQueueConfig};
use dezky_queue::redis::RedisQueue;
use dezky_queue::sqlite::SqliteQueue;
use dezky_scheduler::MaintenanceConfig;
use dezky_store::{SecretVault, Store};

use crate::run_history::StoreRunLog;
use dezky_worker::WorkerConfig;
use tokio::net::TcpListener;

use crate::config::QueueLocation;
use crate::secret_key::SecretSettings;
use crate::shutdown::Shutdown;

/// What the API needs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Who may call.
    pub tokens: Tokens,
    /// Whether this is the whole API (`api`, `run`) or only the probes and metrics of a
    /// process without it (`worker`, `scheduler`).
    pub probes_only: bool,
}

/// What this process runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the queue lives.
    pub queue: QueueLocation,
    /// The store's URL (`sqlite://…`, the queue's file on the default; `postgres://…`).
    pub store: String,
    /// Whether the test-only kinds exist.
    pub test_kinds: bool,
    /// The API, if this process serves it.
    pub api: Option<ApiSettings>,
    /// Workers, if this process runs them.
    pub workers: Option<WorkerConfig>,
    /// The scheduler (queue maintenance, boot jobs, cron schedules), if this process runs it.
    pub scheduler: Option<SchedulerSettings>,
    /// Authentik, when configured (workers check its version at start).
    pub authentik: Option<dezky_authentik::ClientConfig>,
    /// How secret results are sealed and kept.
    pub secrets: SecretSettings,
    /// How invites are delivered.
    pub invites: dezky_jobs::kinds::invite::InviteSettings,
}

/// What the scheduler does.
#[derive(Debug, Clone, Default)]
pub struct SchedulerSettings {
    /// Lease rescue and retention.
    pub maintenance: MaintenanceConfig,
    /// Boot jobs and cron schedules.
    pub schedules: dezky_scheduler::ScheduleConfig,
}

/// A built application, ready to run.
#[derive(Debug)]
pub struct Application {
    queue: OpenQueue,
    store: Store,
    /// The queue's tables, when they are in the store's database.
    shared_db: Option<dezky_queue::InDatabase>,
    registry: Registry,
    listener: Option<(TcpListener, Tokens, bool)>,
    workers: Option<WorkerConfig>,
    scheduler: Option<SchedulerSettings>,
    authentik: Option<dezky_authentik::AuthentikClient>,
    secrets: SecretVault,
    invites: dezky_jobs::kinds::invite::InviteSettings,
}

/// An open queue, and what closing it takes.
#[derive(Debug, Clone)]
pub struct OpenQueue {
    /// The queue.
    pub queue: DynQueue,
    sqlite: Option<SqliteQueue>,
    postgres: Option<PostgresQueue>,
}

impl OpenQueue {
    /// Closes connections that need closing (SQLite's and PostgreSQL's pools; Redis needs
    /// nothing).
    pub async fn close(&self) {
        if let Some(sqlite) = &self.sqlite {
            sqlite.close().await;
        }
        if let Some(postgres) = &self.postgres {
            postgres.close().await;
        }
    }
}

/// Opens the queue at `location` (applying SQLite migrations; warning when Redis keeps no
/// durable copy).
pub async fn open_queue(location: &QueueLocation) -> anyhow::Result<OpenQueue> {
    match location {
        QueueLocation::Sqlite(url) => {
            let sqlite = SqliteQueue::open_default(url)
                .await
                .with_context(|| format!("opening the SQLite queue at {url}"))?;
            Ok(OpenQueue {
                queue: Arc::new(sqlite.clone()),
                sqlite: Some(sqlite),
                postgres: None,
            })
        }
        QueueLocation::Postgres(url) => {
            let postgres = PostgresQueue::open(url, PostgresQueueConfig::default())
                .await
                .context("opening the PostgreSQL queue")?;
            tracing::info!("queue on PostgreSQL, in the store's database");
            Ok(OpenQueue {
                queue: Arc::new(postgres.clone()),
                sqlite: None,
                postgres: Some(postgres),
            })
        }
        QueueLocation::Redis { url, prefix } => {
            let redis = RedisQueue::connect_default(url, prefix)
                .await
                .context("connecting to the Redis queue")?;
            match redis.persistence_warning().await {
                Ok(Some(warning)) => tracing::warn!("{warning}"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read Redis's persistence settings"),
            }
            tracing::info!(prefix, "queue on Redis");
            Ok(OpenQueue {
                queue: Arc::new(redis),
                sqlite: None,
                postgres: None,
            })
        }
    }
}

/// Which database a store URL names, for messages (never the URL: it may hold a password).
pub fn store_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

impl Application {
    /// Opens the queue and the store and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let queue = open_queue(&settings.queue).await?;
        let store = Store::connect(&settings.store)
            .await
            .with_context(|| format!("opening the {} store", store_kind(&settings.store)))?;
        let shared_db = store
            .shared_with(queue.queue.as_ref())
            .await
            .context("asking whether the queue is in the store's database")?;
        if shared_db.is_some() {
            tracing::info!(
                "the queue is in the store's database: store writes and pushes commit together"
            );
        }
        let listener = match settings.api {
            Some(api) => {
                let listener = TcpListener::bind(api.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", api.listen))?;
                Some((listener, api.tokens, api.probes_only))
            }
            None => None,
        };
        let authentik = settings
            .authentik
            .map(dezky_authentik::AuthentikClient::new)
            .transpose()
            .context("Authentik client")?;
        let secrets = SecretVault::new(
            store.clone(),
            settings.secrets.keys(&settings.store)?,
            settings.secrets.ttl,
            Arc::new(dezky_queue::SystemClock),
        );
        Ok(Self {
            secrets,
            invites: settings.invites,
            authentik,
            queue,
            store,
            shared_db,
            registry: dezky_jobs::kinds::registry(settings.test_kinds),
            listener,
            workers: settings.workers,
            scheduler: settings.scheduler,
        })
    }

    /// The API's address, once bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener
            .as_ref()
            .and_then(|(l, _, _)| l.local_addr().ok())
    }

    /// The queue.
    pub fn queue(&self) -> DynQueue {
        self.queue.queue.clone()
    }

    /// The store.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Runs until `shutdown` is triggered, then stops the API, drains the workers within their
    /// grace, and closes the queue.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut parts = tokio::task::JoinSet::new();
        if let Some((listener, tokens, probes_only)) = self.listener {
            let state = AppState {
                queue: self.queue.queue.clone(),
                registry: Arc::new(self.registry.clone()),
                tokens: Arc::new(tokens),
                secrets: Some(self.secrets.clone()),
                store: Some(self.store.clone()),
                shared_db: self.shared_db.clone(),
                metrics: Some(crate::metrics::endpoint(!probes_only)),
            };
            let router = if probes_only {
                tracing::info!(addr = %listener.local_addr()?, "probes and metrics listening");
                dezky_api_shim::probe_router(state)
            } else {
                tracing::info!(addr = %listener.local_addr()?, "API listening");
                dezky_api_shim::router(state)
            };
            let stop = shutdown.wait();
            parts.spawn(async move {
                // The client's address reaches handlers (the dashboard throttles failed logins
                // per address).
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, service)
                    .with_graceful_shutdown(stop)
                    .await
                    .context("API server failed")
            });
        }
        if self.workers.is_some() || self.scheduler.is_some() {
            let (vault, stop) = (self.secrets.clone(), shutdown.wait());
            parts.spawn(async move {
                erase_expired_secrets(vault, stop).await;
                Ok(())
            });
        }
        if let Some(config) = self.workers {
            let (queue, registry, stop) = (
                self.queue.queue.clone(),
                self.registry.clone(),
                shutdown.wait(),
            );
            let mut services = dezky_jobs::Services {
                authentik: None,
                store: Some(self.store.clone()),
                children: Some((queue.clone(), registry.clone())),
                secrets: Some(self.secrets.clone()),
                invites: self.invites.clone(),
                shared_db: self.shared_db.clone(),
                ..Default::default()
            };
            let mut gates = Vec::new();
            if let Some(client) = &self.authentik {
                let gate_config = dezky_worker::gate::GateConfig {
                    horizon: config.gate_horizon,
                    ..Default::default()
                };
                let (gate, gated) = dezky_worker::gate::authentik_gate(
                    queue.clone(),
                    client,
                    &registry,
                    gate_config,
                );
                // Once, through the gate and without the client's retries: a worker started
                // while Authentik is down must not add to what the gate's prober sends it.
                // Not fatal: Authentik may come up after us; the jobs wait until it answers.
                let check = dezky_authentik::AuthentikClient::new(dezky_authentik::ClientConfig {
                    retries: 0,
                    ..client.config().clone()
                })
                .map(|c| c.with_gate(Arc::new(gate.clone())));
                let opened = gate.clone();
                tokio::spawn(async move {
                    opened.sync().await;
                    let Ok(check) = check else { return };
                    match check.version().await {
                        Ok(v) => tracing::info!(version = %v.version_current, "Authentik answers"),
                        Err(e) => tracing::warn!(error = %e, "Authentik does not answer yet"),
                    }
                });
                services.authentik = Some(gated);
                gates.push(gate);
            }
            let hooks = dezky_worker::Hooks {
                on_success: None,
                run_log: Some(Arc::new(StoreRunLog::spawn(self.store.clone()))),
                services,
                gates,
            };
            // Its own task: apalis's monitor runs every handler on the task that awaits it.
            parts.spawn(async move {
                dezky_worker::run_observed_workers(queue, registry, config, hooks, stop)
                    .await
                    .context("workers failed")
            });
        }
        if let Some(config) = self.scheduler {
            let (queue, stop) = (self.queue.queue.clone(), shutdown.wait());
            parts.spawn(async move {
                dezky_scheduler::run_maintenance(queue, config.maintenance, stop).await;
                Ok(())
            });
            let scheduler = dezky_scheduler::Scheduler::new(
                self.queue.queue.clone(),
                self.store.clone(),
                Arc::new(dezky_queue::SystemClock),
                config.schedules,
            );
            let stop = shutdown.wait();
            parts.spawn(async move {
                scheduler.run(stop).await;
                Ok(())
            });
        }
        let mut first_error = None;
        while let Some(done) = parts.join_next().await {
            let result = done
                .context("a part of the application panicked")
                .and_then(|r| r);
            if let Err(e) = result {
                tracing::error!(error = %format!("{e:#}"), "stopping: a part of the application failed");
                shutdown.trigger();
                first_error.get_or_insert(e);
            }
        }
        self.queue.close().await;
        first_error.map_or(Ok(()), Err)
    }
}

/// Erases secret results whose time is up, every half of their time to live (between 1 s and
/// a minute), until `stop` resolves. Reads never show an expired secret meanwhile.
async fn erase_expired_secrets(vault: SecretVault, stop: impl std::future::Future<Output = ()>) {
    let every = (vault.ttl() / 2).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut tick = tokio::time::interval(every);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {
                match vault.erase_expired().await {
                    Ok(0) => {}
                    Ok(erased) => tracing::debug!(erased, "erased expired secret results"),
                    Err(e) => tracing::warn!(error = %e, "could not erase expired secret results"),
                }
            }
        }
    }
}
