//! Test-only kinds, registered only when a process is started with test kinds enabled:
//! `crash` kills the worker process mid-job; `fail` answers the outcome it is told to;
//! `exclusive` holds a key while it sleeps and answers when it ran.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::registry::JobKind;

/// Kills the whole process (SIGABRT, no clean-up), like a worker that is SIGKILLed mid-job.
#[derive(Debug, Clone, Copy)]
pub struct Crash;

/// Arguments of `crash`: any object.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CrashArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for Crash {
    type Args = CrashArgs;
    const NAME: &'static str = "crash";

    async fn run(&self, ctx: JobContext, _args: CrashArgs) -> Result<serde_json::Value, JobError> {
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

    async fn run(&self, ctx: JobContext, args: FailArgs) -> Result<serde_json::Value, JobError> {
        if args.succeed_on_attempt.is_some_and(|n| ctx.attempt >= n) {
            return Ok(serde_json::json!({ "succeeded_on_attempt": ctx.attempt }));
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

    async fn run(
        &self,
        _ctx: JobContext,
        args: ExclusiveArgs,
    ) -> Result<serde_json::Value, JobError> {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        };
        let started = now();
        tokio::time::sleep(std::time::Duration::from_millis(args.ms)).await;
        Ok(serde_json::json!({ "started": started, "ended": now() }))
    }
}
