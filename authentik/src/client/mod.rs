//! `AuthentikClient`: typed calls over reqwest. The Bearer token is a secret (never logged;
//! `Debug` redacts it). Requests may carry the public `Host`, because recovery links and brand
//! selection follow the request's Host (API-NOTES §3). Transient failures are retried a few times
//! with jittered backoff, honouring `Retry-After`; a long outage is the worker's business (snooze).

mod calls;
pub mod error;
pub mod models;

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use self::error::{AuthentikError, FieldErrors};

/// How to reach Authentik.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL up to and including `/api/v3`.
    pub base_url: String,
    /// An API-intent token.
    pub token: SecretString,
    /// The public host name to send as `Host` (recovery links and brands follow it).
    pub public_host: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of a transient failure within one call.
    pub retries: usize,
    /// Sent as `X-Dezky-Job` with every request: which run of which job asks (the worker sends
    /// `<job id>/<attempt>/<lease token>`), so that Authentik's and proxies' request logs can be
    /// read job by job.
    pub job: Option<String>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("public_host", &self.public_host)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("job", &self.job)
            .finish()
    }
}

impl ClientConfig {
    /// A configuration with a 10 s timeout and 3 retries.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: SecretString::from(token.to_owned()),
            public_host: None,
            timeout: Duration::from_secs(10),
            retries: 3,
            job: None,
        }
    }
}

/// What the client asks before each request and tells after a failure: the worker's dependency
/// gate. While it does not admit, no request is sent (the call fails at once with
/// [`AuthentikError::GateClosed`]), so neither jobs nor the client's own in-call retries reach an
/// Authentik that is down; only the gate's prober does.
pub trait CallGate: Send + Sync + std::fmt::Debug {
    /// Whether a request may be sent now.
    fn admits(&self) -> bool;
    /// A request found Authentik unreachable (no connection, no answer in time, 5xx).
    fn unreachable(&self);
}

/// What the client asks before each write (POST, PUT, PATCH, DELETE): whether the job run it
/// writes for still holds its lease. A worker paused past its lease (SIGSTOP, a long GC-like
/// stall) wakes up with another worker running its job; its next write must not be sent.
pub trait WriteFence: Send + Sync + std::fmt::Debug {
    /// `Err(why)` once the run must not write any more.
    fn check(&self) -> Result<(), String>;
}

/// The Authentik API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthentikClient {
    http: reqwest::Client,
    config: ClientConfig,
    gate: Option<Arc<dyn CallGate>>,
    fence: Option<Arc<dyn WriteFence>>,
}

/// Installs ring as the process's TLS crypto provider (reqwest is built without one, to avoid
/// building aws-lc). Idempotent; call before building any reqwest client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The header naming the job attempt a request is made for.
pub const JOB_HEADER: &str = "x-dezky-job";

/// The most a `Retry-After` is waited within one call; longer waits go back to the worker.
const MAX_IN_CALL_WAIT: Duration = Duration::from_secs(5);

impl AuthentikClient {
    /// A client for `config`.
    pub fn new(config: ClientConfig) -> Result<Self, AuthentikError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| {
                AuthentikError::Unexpected(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self {
            http,
            config,
            gate: None,
            fence: None,
        })
    }

    /// This client, asking `gate` before every request it sends.
    pub fn with_gate(&self, gate: Arc<dyn CallGate>) -> Self {
        Self {
            gate: Some(gate),
            ..self.clone()
        }
    }

    /// This client, asking `fence` before every write it sends.
    pub fn with_fence(&self, fence: Arc<dyn WriteFence>) -> Self {
        Self {
            fence: Some(fence),
            ..self.clone()
        }
    }

    /// This client, telling Authentik with each request which job attempt sends it.
    pub fn for_job(&self, job: String) -> Self {
        let mut client = self.clone();
        client.config.job = Some(job);
        client
    }

    /// Asks Authentik for its version once, past the gate and without retries: the gate's probe.
    pub async fn probe(&self) -> Result<(), AuthentikError> {
        self.once(Method::GET, "/admin/version/", &[], None)
            .await
            .map(drop)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// One call, retried briefly on transient failures.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&(dyn erased::Body + Sync)>,
    ) -> Result<T, AuthentikError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(self.config.retries)
            .with_jitter();
        let value = (|| self.gated(method.clone(), path, query, body))
            .retry(backoff)
            .when(|e: &AuthentikError| {
                e.is_transient()
                    && !matches!(e, AuthentikError::GateClosed)
                    && e.retry_after().is_none_or(|d| d <= MAX_IN_CALL_WAIT)
            })
            .adjust(|e, delay| e.retry_after().or(delay))
            .await?;
        serde_json::from_value(value)
            .map_err(|e| AuthentikError::Unexpected(format!("answer does not fit: {e}")))
    }

    /// One request, if the gate admits it; a failure that finds Authentik unreachable is told
    /// to the gate.
    async fn gated(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&(dyn erased::Body + Sync)>,
    ) -> Result<Value, AuthentikError> {
        // Asked before every try, so an in-call retry after the lease ran out is not sent.
        if method != Method::GET
            && let Some(fence) = &self.fence
        {
            fence.check().map_err(AuthentikError::Fenced)?;
        }
        let Some(gate) = &self.gate else {
            return self.once(method, path, query, body).await;
        };
        if !gate.admits() {
            return Err(AuthentikError::GateClosed);
        }
        let answer = self.once(method, path, query, body).await;
        if answer.as_ref().is_err_and(AuthentikError::is_unreachable) {
            gate.unreachable();
        }
        answer
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&(dyn erased::Body + Sync)>,
    ) -> Result<Value, AuthentikError> {
        let url = format!("{}{path}", self.config.base_url);
        let mut request = self
            .http
            .request(method, url)
            .header(
                AUTHORIZATION,
                format!("Bearer {}", self.config.token.expose_secret()),
            )
            .query(query);
        if let Some(host) = &self.config.public_host {
            request = request.header(HOST, host);
        }
        if let Some(job) = &self.config.job {
            request = request.header(JOB_HEADER, job);
        }
        if let Some(body) = body {
            request = request.json(&body.to_value());
        }
        let response = request
            .send()
            .await
            .map_err(|e| AuthentikError::from_transport(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AuthentikError::from_transport(&e))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(AuthentikError::from_status(status, retry_after, &value))
        }
    }

    /// Every object of a list endpoint, following `pagination.next` until it is 0.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, AuthentikError> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let page_text = page.to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("page", &page_text));
            let answer: models::Page<T> = self.call(Method::GET, path, &q, None).await?;
            items.extend(answer.results);
            let next = answer.pagination.next;
            if next <= 0.0 {
                return Ok(items);
            }
            page = next as u64;
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AuthentikError> {
        self.call(Method::GET, path, &[], None).await
    }

    async fn send<T: DeserializeOwned, B: Serialize + Sync>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, AuthentikError> {
        self.call(method, path, &[], Some(body)).await
    }
}

/// Request bodies behind a trait object, so the retry closure can hold one by reference.
mod erased {
    /// A serialisable body.
    pub trait Body {
        /// As JSON.
        fn to_value(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Body for T {
        fn to_value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}
