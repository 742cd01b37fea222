//! A simulator of the Authentik API subset Dezky Jobs uses, with Authentik's semantics where our
//! jobs can tell the difference (API-NOTES §1–§7): 403 for missing or bad tokens, pagination with
//! page numbers and 0 for "none", uniqueness errors as 400 field errors, `PATCH` replacing JSON
//! fields whole, brand resolution by `Host`, recovery links built from the request's Host and
//! refused without a recovery flow. It starts with what the default blueprints create —
//! optionally after a delay, like a fresh instance — and keeps its objects in a state file.
//! Faults ([`faults`]) are set at start and through `PUT /_sim/faults` (own token).

#![allow(
    clippy::result_large_err,
    reason = "handlers return early with the response Authentik would give; one per request"
)]

pub mod defaults;
pub mod faults;
pub mod record;
mod routes;
pub mod server;
pub mod store;
pub mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use rand::SeedableRng;
use rand::rngs::StdRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::net::TcpListener;

use self::faults::{FaultState, Faults};
use self::store::Store;
use self::util::detail;

/// How a simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The API token callers must send.
    pub token: SecretString,
    /// The token of the fault admin endpoint.
    pub admin_token: SecretString,
    /// Where objects persist (none: memory only).
    pub state_file: Option<PathBuf>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Faults at start.
    pub faults: Faults,
    /// How long after start the default blueprints apply (a fresh instance takes about a minute).
    pub blueprints_after: Duration,
    /// The version `GET /admin/version/` reports.
    pub version: String,
    /// Record every API exchange (contract tests).
    pub record: bool,
    /// A file each secret the simulator issues or receives (its tokens, client secrets,
    /// recovery links and their tokens, passwords set) is appended to, a line each: the canary
    /// list a test run's logs are scanned for (`scripts/secrets-in-logs.sh`). By default the
    /// file `DEZKY_TEST_SECRETS_LOG` names, when it is set.
    pub secrets_log: Option<PathBuf>,
    /// Email stages an operator made, by name (none by default: Authentik's default
    /// blueprints make none). Their mails land in the outbox (`GET /_sim/outbox`).
    pub email_stages: Vec<String>,
}

impl SimConfig {
    /// A simulator with `token`, defaults applied at once, no faults.
    pub fn new(token: &str) -> Self {
        Self {
            token: SecretString::from(token.to_owned()),
            admin_token: SecretString::from(format!("{token}-admin")),
            state_file: None,
            seed: 1,
            faults: Faults::default(),
            blueprints_after: Duration::ZERO,
            version: "2025.12.4".into(),
            record: false,
            secrets_log: std::env::var_os("DEZKY_TEST_SECRETS_LOG").map(PathBuf::from),
            email_stages: Vec::new(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct Sim {
    store: Arc<Mutex<Store>>,
    rng: Arc<Mutex<StdRng>>,
    /// The faults.
    pub faults: Arc<FaultState>,
    /// Recorded exchanges (when `record` is on).
    pub recorder: record::Recorder,
    config: Arc<SimConfig>,
    /// When it started: recorded exchanges are timed from here.
    started: std::time::Instant,
}

impl Sim {
    /// The mails email stages sent, oldest first (`{to, stage, link}` each).
    pub fn outbox(&self) -> Vec<serde_json::Value> {
        self.read(|store| store.objects.outbox.clone())
    }

    /// Adds `secret` to the canary list, when there is one (see [`SimConfig::secrets_log`]).
    pub fn canary(&self, secret: &str) {
        use std::io::Write as _;
        let Some(path) = &self.config.secrets_log else {
            return;
        };
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{secret}"));
        if let Err(e) = appended {
            tracing::warn!(path = %path.display(), error = %e, "cannot append to the canary list");
        }
    }

    /// Runs `f` on the objects; saves them afterwards when it answers success.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Store, &mut StdRng) -> Result<T, Response>,
    ) -> Result<T, Response> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let answer = f(&mut store, &mut rng)?;
        store.save().map_err(|e| {
            tracing::error!(error = %e, "simulator cannot save its state");
            detail(StatusCode::INTERNAL_SERVER_ERROR, "state file")
        })?;
        Ok(answer)
    }

    /// Reads the objects.
    fn read<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.store.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One page of a collection, filtered by the query's values for `fields`.
    fn list(
        &self,
        query: &routes::Pairs,
        collection: fn(&store::Objects) -> &Vec<Value>,
        fields: &[&str],
    ) -> Response {
        let query = routes::single(query);
        util::paginate(
            self.read(|s| util::filter(collection(&s.objects), &query, fields)),
            &query,
        )
    }

    /// The object of a collection whose `key` is `value`, or Authentik's 404 for `model`.
    fn find(
        &self,
        collection: fn(&store::Objects) -> &Vec<Value>,
        key: &str,
        value: &Value,
        model: &str,
    ) -> Response {
        self.read(|s| {
            collection(&s.objects)
                .iter()
                .find(|o| o[key] == *value)
                .cloned()
        })
        .map_or_else(|| util::not_found(model), util::ok)
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    /// Its address.
    pub addr: SocketAddr,
    /// Its shared state (faults can be changed directly in tests).
    pub sim: Sim,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// The API base URL (`http://addr/api/v3`).
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Starts a simulator on `listener`.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> std::io::Result<Simulator> {
    let addr = listener.local_addr()?;
    let mut store = Store::open(config.state_file.as_deref())?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let apply_later = !store.has_defaults() && !config.blueprints_after.is_zero();
    if !store.has_defaults() && !apply_later {
        defaults::apply(&mut store.objects, &mut rng);
        store.save()?;
    }
    for name in &config.email_stages {
        if !store
            .objects
            .stages
            .iter()
            .any(|s| s["name"] == name.as_str())
        {
            let pk = store::uuid(&mut rng);
            let email = store::stage(&pk, name, "ak-stage-email-form", "Email Stage");
            store.objects.stages.push(email);
            store.save()?;
        }
    }
    let faults = Arc::new(FaultState::new(config.faults.clone(), config.seed));
    let sim = Sim {
        store: Arc::new(Mutex::new(store)),
        rng: Arc::new(Mutex::new(rng)),
        faults: faults.clone(),
        recorder: record::Recorder::default(),
        config: Arc::new(config.clone()),
        started: std::time::Instant::now(),
    };
    sim.canary(config.token.expose_secret());
    sim.canary(config.admin_token.expose_secret());
    if apply_later {
        let sim = sim.clone();
        tokio::spawn(async move {
            tokio::time::sleep(config.blueprints_after).await;
            let _ = sim.write(|store, rng| {
                if !store.has_defaults() {
                    defaults::apply(&mut store.objects, rng);
                }
                Ok(())
            });
        });
    }
    let router = router(sim.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let refusing = faults.refusing.subscribe();
    let task = tokio::spawn(server::serve(
        Some(listener),
        addr,
        router,
        refusing,
        async move {
            let _ = stop_rx.await;
        },
    ));
    Ok(Simulator {
        addr,
        sim,
        stop: Some(stop_tx),
        task,
    })
}

fn router(sim: Sim) -> Router {
    // Outside in: faults (a proxy's answers are not Authentik's), recording, authentication.
    let api = routes::api()
        .route_layer(from_fn_with_state(sim.clone(), authenticate))
        .layer(from_fn_with_state(sim.clone(), record::record))
        .layer(from_fn_with_state(sim.clone(), faults::inject));
    Router::new()
        .nest("/api/v3", api)
        .merge(routes::admin())
        .with_state(sim)
}

/// Authentik's token check: 403 (not 401) with its three messages (API-NOTES §1).
async fn authenticate(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(value) = header else {
        return detail(
            StatusCode::FORBIDDEN,
            "Authentication credentials were not provided.",
        );
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return detail(StatusCode::FORBIDDEN, "Unsupported authentication type");
    }
    if token.trim() != sim.config.token.expose_secret() {
        return detail(StatusCode::FORBIDDEN, "Token invalid/expired");
    }
    next.run(request).await
}

/// The brand a request resolves to: the longest domain the Host equals or ends with (dot
/// suffix), else the default brand.
fn brand_for_host(brands: &[Value], host: &str) -> Option<Value> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    brands
        .iter()
        .filter(|b| {
            let domain = b["domain"].as_str().unwrap_or("").to_ascii_lowercase();
            !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
        })
        .max_by_key(|b| b["domain"].as_str().map_or(0, str::len))
        .or_else(|| brands.iter().find(|b| b["default"] == true))
        .cloned()
}
