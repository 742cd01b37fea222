//! The workload: tenants with admin e-mails, operator invites into them, the recovery flow's
//! seeding, and many `sleep` jobs of mixed lengths, pushed through the API as the portal would.
//! Every push carries an `Idempotency-Key` and is sent again with the same key on a connection
//! error, a timeout or a 5xx, until the API acknowledges it: so an acknowledged push was accepted
//! exactly once, and its job must succeed. A share of acknowledged pushes is sent again on
//! purpose, as a portal that lost the answer would: the key must answer the same job.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::checker::Ack;

/// What the workload sends, per second of the run.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    /// `sleep` jobs per second.
    pub sleeps_per_sec: u32,
    /// A new tenant (with an admin e-mail) every this many seconds; an operator invite into it
    /// follows.
    pub tenant_every_secs: u32,
}

/// The pushes and their answers.
#[derive(Debug)]
pub struct Workload {
    client: reqwest::Client,
    api: String,
    token: String,
    run: String,
    acks: Mutex<Vec<Ack>>,
    /// Pushes sent again after a failure (connection, timeout, 5xx).
    pub resent: AtomicU64,
    /// Pushes given up on: never acknowledged before the deadline (they may or may not exist).
    pub unacknowledged: AtomicU64,
    /// Pushes refused with a 4xx (a workload bug; reported).
    pub refused: Mutex<Vec<String>>,
}

/// How long one push is retried before it is given up.
const PUSH_DEADLINE: Duration = Duration::from_secs(120);

impl Workload {
    /// A workload on the API at `api`, as the portal with `token`; `run` makes keys and names
    /// unique to the run.
    pub fn new(api: String, token: String, run: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            client,
            api,
            token,
            run,
            acks: Mutex::default(),
            resent: AtomicU64::new(0),
            unacknowledged: AtomicU64::new(0),
            refused: Mutex::default(),
        }
    }

    /// Every acknowledgement so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// POSTs `body` to `path` under `key` until acknowledged (→ the job id) or given up.
    pub async fn push(&self, path: &str, key: &str, body: &Value) -> Option<String> {
        let deadline = Instant::now() + PUSH_DEADLINE;
        let mut wait = Duration::from_millis(50);
        loop {
            let sent = self
                .client
                .post(format!("{}{path}", self.api))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => {
                    let id = answer
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned));
                    // A body cut off by a kill: the push may have been accepted; ask again.
                    if let Some(id) = id {
                        self.acks
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Ack {
                                key: key.to_owned(),
                                job: id.clone(),
                            });
                        return Some(id);
                    }
                }
                Ok(answer)
                    if answer.status().is_client_error() && answer.status().as_u16() != 429 =>
                {
                    let status = answer.status();
                    let text = answer.text().await.unwrap_or_default();
                    self.refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{path} {key}: {status} {text}"));
                    return None;
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                self.unacknowledged.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            self.resent.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// Pushes at `rates` until `until`, with randomness from `seed`; answers when every push
    /// started has been acknowledged or given up.
    pub async fn run(self: std::sync::Arc<Self>, rates: Rates, seed: u64, until: Instant) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pushes = tokio::task::JoinSet::new();
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut second = 0u64;
        let mut n = 0u64;
        let workload = self.clone();
        while Instant::now() < until {
            tick.tick().await;
            let elapsed = started.elapsed().as_secs();
            // A tenth of a second's share of sleeps each tick.
            let sleeps = rates.sleeps_per_sec / 10
                + u32::from(rng.random_ratio(rates.sleeps_per_sec % 10, 10));
            for _ in 0..sleeps {
                n += 1;
                // Mixed lengths: most short, some long enough to be running when a worker dies.
                let ms: u64 = if rng.random_ratio(1, 10) {
                    rng.random_range(1_000..5_000)
                } else {
                    rng.random_range(0..300)
                };
                let key = format!("{}-sleep-{n}", self.run);
                let body = json!({"kind": "sleep", "args": {"ms": ms}});
                let again = rng.random_ratio(1, 20);
                let w = workload.clone();
                pushes.spawn(async move {
                    w.push("/v1/jobs", &key, &body).await;
                    if again {
                        w.push("/v1/jobs", &key, &body).await;
                    }
                });
            }
            if elapsed >= second {
                second = elapsed + u64::from(rates.tenant_every_secs.max(1));
                let t = elapsed / u64::from(rates.tenant_every_secs.max(1));
                let slug = format!("t{}-{t}", self.run_slug());
                let w = workload.clone();
                let seed_now = rng.random_ratio(1, 4);
                pushes.spawn(async move { w.tenant(&slug, seed_now).await });
            }
            while pushes.try_join_next().is_some() {}
        }
        while pushes.join_next().await.is_some() {}
    }

    /// A tenant with an admin, then an operator invited into it, and sometimes a seeding.
    async fn tenant(&self, slug: &str, seed_now: bool) {
        let tenant = json!({
            "slug": slug, "name": format!("Tenant {slug}"),
            "domain": format!("auth.{slug}.example"),
            "redirect_uris": [format!("https://mail.{slug}.example/oidc"), format!("https://files.{slug}.example/oidc")],
            "admin_email": format!("admin@{slug}.example"),
        });
        let key = format!("{}-tenant-{slug}", self.run);
        self.push("/v1/tenants", &key, &tenant).await;
        let invite = json!({
            "email": format!("ops@{slug}.example"), "name": format!("Ops {slug}"),
            "tenant": slug,
        });
        let key = format!("{}-invite-{slug}", self.run);
        self.push("/v1/operators/invite", &key, &invite).await;
        if seed_now {
            let key = format!("{}-seed-{slug}", self.run);
            self.push("/v1/seed/recovery-flow", &key, &json!({})).await;
        }
    }

    /// The run's name as it may appear in a slug.
    fn run_slug(&self) -> String {
        self.run
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    }
}
