//! Built-in kinds for smoke tests, crash tests and benchmarks: `noop`, `echo` and `sleep`.

use std::time::Duration;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::output::Output;
use crate::registry::{JobKind, KindSettings};

/// Does nothing and succeeds. Takes any JSON object.
#[derive(Debug, Clone, Copy)]
pub struct Noop;

/// Arguments of `noop`: any object.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoopArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for Noop {
    type Args = NoopArgs;
    const NAME: &'static str = "noop";

    fn settings(&self) -> KindSettings {
        KindSettings {
            concurrency: 50,
            history: false,
            ..KindSettings::default()
        }
    }

    async fn run(&self, _ctx: JobContext, _args: NoopArgs) -> Result<Output, JobError> {
        Ok(serde_json::Value::Null.into())
    }
}

/// Succeeds with its arguments as the result.
#[derive(Debug, Clone, Copy)]
pub struct Echo;

/// Arguments of `echo`: any object, returned as the result.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EchoArgs(pub serde_json::Map<String, serde_json::Value>);

impl JobKind for Echo {
    type Args = EchoArgs;
    const NAME: &'static str = "echo";

    fn settings(&self) -> KindSettings {
        KindSettings {
            history: false,
            ..KindSettings::default()
        }
    }

    async fn run(&self, _ctx: JobContext, args: EchoArgs) -> Result<Output, JobError> {
        Ok(serde_json::Value::Object(args.0).into())
    }
}

/// Sleeps, then succeeds; stops early when cancelled.
#[derive(Debug, Clone, Copy)]
pub struct Sleep;

/// The longest `sleep` accepted: an hour.
pub const MAX_SLEEP_MS: u64 = 3_600_000;

/// Arguments of `sleep`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepArgs {
    /// Milliseconds to sleep, at most 3,600,000.
    #[serde(deserialize_with = "at_most_an_hour")]
    pub ms: u64,
}

fn at_most_an_hour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms > MAX_SLEEP_MS {
        return Err(serde::de::Error::custom(format!(
            "ms must be at most {MAX_SLEEP_MS}"
        )));
    }
    Ok(ms)
}

impl JobKind for Sleep {
    type Args = SleepArgs;
    const NAME: &'static str = "sleep";

    fn settings(&self) -> KindSettings {
        KindSettings {
            timeout: Duration::from_millis(MAX_SLEEP_MS + 60_000),
            history: false,
            ..KindSettings::default()
        }
    }

    async fn run(&self, ctx: JobContext, args: SleepArgs) -> Result<Output, JobError> {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(args.ms)) => Ok(serde_json::json!({ "slept_ms": args.ms }).into()),
            // Cancelled: nothing to undo, so stop at once. At shutdown it sleeps on within the
            // grace, like a job that finishes what it started.
            () = ctx.cancelled() => Err(JobError::Cancelled),
        }
    }
}
