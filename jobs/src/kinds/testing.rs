//! Test-only kinds, registered only when a process is started with test kinds enabled:
//! `crash` kills the worker process mid-job; `fail` answers the outcome it is told to;
//! `exclusive` holds a key while it sleeps and answers when it ran; `spawn` enqueues children;
//! `secret` answers a secret result; `settle` does all a success can carry (a store write, a
//! secret, children); `authentik-version` needs Authentik.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::output::Output;
use crate::registry::{JobKind, KindSettings};
use crate::services::Dependency;

/// Kills the whole process (SIGABRT, no clean-up), like a worker that is SIGKILLed mid-job.
#[derive(Debug, Clone, Copy)]
pub struct Crash;

/// Arguments of `crash`: any object.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CrashArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for Crash {
    type Args = CrashArgs;
    const NAME: &'static str = "crash";

    async fn run(&self, ctx: JobContext, _args: CrashArgs) -> Result<Output, JobError> {
        tracing::warn!(job = %ctx.id, attempt = ctx.attempt, "crash kind: aborting the process on purpose");
        std::process::abort()
    }
}

/// Fails the way it is told to.
#[derive(Debug, Clone, Copy)]
pub struct Fail;

/// How `fail` fails.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// A transient error.
    Retry,
    /// A permanent error.
    Abort,
    /// A dependency outage (snooze 1 s).
    Snooze,
    /// A panic.
    Panic,
}

/// Arguments of `fail`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FailArgs {
    /// The outcome.
    pub mode: FailMode,
    /// Succeed from this attempt on (never, if absent).
    pub succeed_on_attempt: Option<u32>,
}

impl JobKind for Fail {
    type Args = FailArgs;
    const NAME: &'static str = "fail";

    async fn run(&self, ctx: JobContext, args: FailArgs) -> Result<Output, JobError> {
        if args.succeed_on_attempt.is_some_and(|n| ctx.attempt >= n) {
            return Ok(serde_json::json!({ "succeeded_on_attempt": ctx.attempt }).into());
        }
        match args.mode {
            FailMode::Retry => Err(JobError::retry(format!(
                "failing on purpose, attempt {}",
                ctx.attempt
            ))),
            FailMode::Abort => Err(JobError::abort("failing for good on purpose")),
            FailMode::Snooze => Err(JobError::Snooze(std::time::Duration::from_secs(1))),
            FailMode::Panic => panic!("fail kind: panicking on purpose"),
        }
    }
}

/// Holds the key `test:<key>` for `ms` milliseconds and answers when it started and ended
/// (milliseconds since the epoch), so tests can see that two jobs of one key never overlap.
#[derive(Debug, Clone, Copy)]
pub struct Exclusive;

/// Arguments of `exclusive`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExclusiveArgs {
    /// The key held.
    pub key: String,
    /// How long the attempt runs.
    pub ms: u64,
}

impl JobKind for Exclusive {
    type Args = ExclusiveArgs;
    const NAME: &'static str = "exclusive";

    fn keys(&self, args: &ExclusiveArgs) -> Vec<String> {
        vec![format!("test:{}", args.key)]
    }

    async fn run(&self, _ctx: JobContext, args: ExclusiveArgs) -> Result<Output, JobError> {
        let now = crate::kinds::now_ms;
        let started = now();
        tokio::time::sleep(std::time::Duration::from_millis(args.ms)).await;
        Ok(serde_json::json!({ "started": started, "ended": now() }).into())
    }
}

/// Enqueues `count` `echo` children and succeeds (the worker lists them in its result).
#[derive(Debug, Clone, Copy)]
pub struct Spawn;

/// Arguments of `spawn`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnArgs {
    /// How many children, at most 10.
    #[schema(maximum = 10)]
    #[serde(deserialize_with = "at_most_ten")]
    pub count: u8,
}

fn at_most_ten<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let count = u8::deserialize(d)?;
    if count > 10 {
        return Err(serde::de::Error::custom("count must be at most 10"));
    }
    Ok(count)
}

impl JobKind for Spawn {
    type Args = SpawnArgs;
    const NAME: &'static str = "spawn";

    async fn run(&self, ctx: JobContext, args: SpawnArgs) -> Result<Output, JobError> {
        for n in 0..args.count {
            ctx.enqueue_child(&n.to_string(), "echo", serde_json::json!({ "child": n }))
                .await?;
        }
        Ok(serde_json::json!({ "spawned": args.count }).into())
    }
}

/// Succeeds with a fresh random secret (`secret.password`) and a public result naming its
/// length, for the tests of secret results.
#[derive(Debug, Clone, Copy)]
pub struct Secret;

/// Arguments of `secret`: any object.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SecretArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for Secret {
    type Args = SecretArgs;
    const NAME: &'static str = "secret";

    async fn run(&self, ctx: JobContext, _args: SecretArgs) -> Result<Output, JobError> {
        let password = format!("pw-{}", ulid::Ulid::new());
        tracing::debug!(job = %ctx.id, "secret kind: made a password");
        Ok(Output::with_secret(
            serde_json::json!({ "length": password.len() }),
            serde_json::json!({ "password": password }),
        ))
    }
}

/// Asks Authentik for its version (one request): the smallest kind that needs Authentik, for
/// the tests of the dependency gate.
#[derive(Debug, Clone, Copy)]
pub struct AuthentikVersion;

/// Arguments of `authentik-version`: any object.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthentikVersionArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for AuthentikVersion {
    type Args = AuthentikVersionArgs;
    const NAME: &'static str = "authentik-version";

    fn settings(&self) -> KindSettings {
        KindSettings {
            needs: &[Dependency::Authentik],
            ..KindSettings::default()
        }
    }

    async fn run(&self, ctx: JobContext, _args: AuthentikVersionArgs) -> Result<Output, JobError> {
        let version = ctx.services.authentik()?.version().await?;
        Ok(
            serde_json::json!({ "version": version.version_current, "attempt": ctx.attempt })
                .into(),
        )
    }
}

/// Succeeds with all a success can carry: a store write (tenant `slug`'s step `settled`), a
/// secret part and `children` `echo` children — for the tests of what a completion commits with.
#[derive(Debug, Clone, Copy)]
pub struct Settle;

/// Arguments of `settle`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettleArgs {
    /// A stored tenant.
    pub slug: String,
    /// How many children (at most 10).
    #[serde(deserialize_with = "at_most_ten")]
    pub children: u8,
}

/// The step `settle` records.
pub const SETTLED: &str = "settled";

impl JobKind for Settle {
    type Args = SettleArgs;
    const NAME: &'static str = "settle";

    async fn run(&self, ctx: JobContext, args: SettleArgs) -> Result<Output, JobError> {
        for n in 0..args.children {
            ctx.enqueue_child(&n.to_string(), "echo", serde_json::json!({ "child": n }))
                .await?;
        }
        let record = serde_json::json!({ "status": "done", "run": ctx.services.run });
        Ok(Output::with_secret(
            serde_json::json!({ "settled": args.slug }),
            serde_json::json!({ "password": format!("pw-{}", ulid::Ulid::new()) }),
        )
        .with_write(crate::output::StoreWrite::Step {
            slug: args.slug,
            step: SETTLED.into(),
            record,
        }))
    }
}
