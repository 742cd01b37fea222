//! The registry of job kinds: typed handlers behind one type-erased interface, with the settings
//! the queue and the workers need per kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use utoipa::ToSchema as _;

use crate::context::JobContext;
use crate::error::JobError;
use crate::output::Output;
use crate::services::Dependency;

/// Per-kind settings.
#[derive(Debug, Clone)]
pub struct KindSettings {
    /// How long one attempt may run before it is stopped and retried.
    pub timeout: Duration,
    /// Attempts of one kind running at once in one worker process.
    pub concurrency: usize,
    /// Attempts a job gets when its push does not say.
    pub max_attempts: u32,
    /// Whether each attempt is kept in the run history (a row written when it starts and
    /// completed when it ends). On for every kind but the built-in smoke-test ones.
    pub history: bool,
    /// What the kind cannot run without: a worker lacking one of them does not run the kind,
    /// and while one is unreachable its dependency gate holds the kind's jobs.
    pub needs: &'static [Dependency],
    /// The HTTP route that enqueues the kind, when only it may (it validates more than the
    /// payload: the tenant's stored state, say); `POST /v1/jobs` then refuses the kind.
    pub route: Option<&'static str>,
}

impl Default for KindSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            concurrency: 10,
            max_attempts: 20,
            history: true,
            needs: &[],
            route: None,
        }
    }
}

/// A job kind: its name, payload type and handler.
pub trait JobKind: Send + Sync + 'static {
    /// The payload. Its schema is published in the OpenAPI document.
    type Args: DeserializeOwned + utoipa::ToSchema + Send + 'static;

    /// The kind's name, as callers enqueue it.
    const NAME: &'static str;

    /// The kind's settings.
    fn settings(&self) -> KindSettings {
        KindSettings::default()
    }

    /// The things a job of this kind touches that no other job may touch at the same time
    /// (`tenant:<slug>`, `user:<email>`): the worker holds a lock on each while the attempt runs,
    /// and a job whose key is held waits (snoozes, no attempt spent). None by default.
    fn keys(&self, args: &Self::Args) -> Vec<String> {
        let _ = args;
        Vec::new()
    }

    /// Runs one attempt.
    fn run(
        &self,
        ctx: JobContext,
        args: Self::Args,
    ) -> impl Future<Output = Result<Output, JobError>> + Send;
}

/// A kind with its types erased, as the registry holds it.
pub trait ErasedKind: Send + Sync {
    /// The name.
    fn name(&self) -> &'static str;
    /// The settings.
    fn settings(&self) -> KindSettings;
    /// Checks a payload, answering what is wrong with it.
    fn validate(&self, args: &serde_json::Value) -> Result<(), String>;
    /// The payload's JSON schema (name and schema), for OpenAPI.
    fn args_schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    );
    /// Reads a JSON payload once for one attempt: the keys it holds and the run. A payload that
    /// does not fit fails the attempt for good (`invalid_args`).
    fn prepare(&self, args: serde_json::Value) -> Result<Attempt, JobError>;
}

/// One attempt, its payload read: the keys it holds while it runs, and the run itself, waiting
/// for its context.
pub struct Attempt {
    /// What the attempt touches that no other job may touch meanwhile (`JobKind::keys`).
    pub keys: Vec<String>,
    run: Box<dyn FnOnce(JobContext) -> BoxFuture<'static, Result<Output, JobError>> + Send>,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    /// Runs the attempt.
    pub fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<Output, JobError>> {
        (self.run)(ctx)
    }
}

struct Erased<K>(Arc<K>);

impl<K: JobKind> ErasedKind for Erased<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn settings(&self) -> KindSettings {
        self.0.settings()
    }

    fn validate(&self, args: &serde_json::Value) -> Result<(), String> {
        K::Args::deserialize(args)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn args_schema(
        &self,
    ) -> (
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) {
        (
            K::Args::name().into_owned(),
            <K::Args as utoipa::PartialSchema>::schema(),
        )
    }

    fn prepare(&self, args: serde_json::Value) -> Result<Attempt, JobError> {
        let args = K::Args::deserialize(args).map_err(|e| JobError::Abort {
            class: "invalid_args",
            message: format!("args do not fit kind `{}`: {e}", K::NAME),
        })?;
        let kind = self.0.clone();
        Ok(Attempt {
            keys: kind.keys(&args),
            run: Box::new(move |ctx| Box::pin(async move { kind.run(ctx, args).await })),
        })
    }
}

/// The kinds a process knows. Cheap to clone (each attempt's services carry it, for children).
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Arc<BTreeMap<&'static str, Arc<dyn ErasedKind>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind (replacing one of the same name).
    pub fn register<K: JobKind>(mut self, kind: K) -> Self {
        Arc::make_mut(&mut self.kinds).insert(K::NAME, Arc::new(Erased(Arc::new(kind))));
        self
    }

    /// The kind called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.kinds.get(name)
    }

    /// Every kind, by name.
    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn ErasedKind>> {
        self.kinds.values()
    }

    /// Every kind's name.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}
