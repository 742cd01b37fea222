//! The JSON shapes of the HTTP API, with their OpenAPI schemas.

use std::collections::BTreeMap;

use dezky_queue::clock::format_ms;
use dezky_queue::{Job, QueueCounts, RecordedError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// The job kind (see `GET /openapi.json` → components for each kind's args schema).
    pub kind: String,
    /// The kind's payload.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
    /// Not before this time (RFC 3339). Absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub run_at: Option<String>,
    /// Higher runs first; -1000..=1000, default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1000, maximum = 1000)]
    pub priority: Option<i32>,
    /// Attempts allowed, 1..=100; default per kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
    /// The tenant the job works for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub tenant: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `202` answer to an enqueue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Enqueued {
    /// The job's id.
    pub id: String,
    /// Where to poll its status.
    pub status_url: String,
}

/// One attempt's error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptErrorView {
    /// When (RFC 3339).
    pub at: String,
    /// The attempt it ended.
    pub attempt: u32,
    /// Machine-readable class.
    pub class: String,
    /// Message.
    pub message: String,
}

impl From<&RecordedError> for AttemptErrorView {
    fn from(e: &RecordedError) -> Self {
        Self {
            at: format_ms(e.at),
            attempt: e.attempt,
            class: e.class.clone(),
            message: e.message.clone(),
        }
    }
}

/// A job's status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Id: a ULID, on Redis followed by `.` and the queue.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// `scheduled`, `available`, `running`, `succeeded`, `dead` or `cancelled`.
    pub state: String,
    /// Attempts spent, the running one included.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Times it snoozed (a dependency was down; no attempt spent).
    pub snoozes: u32,
    /// Priority.
    pub priority: i32,
    /// Tenant.
    pub tenant: Option<String>,
    /// The token name that enqueued it.
    pub enqueued_by: Option<String>,
    /// When it runs next, or ran last (RFC 3339).
    pub run_at: String,
    /// When it was enqueued.
    pub created_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Whether cancellation was requested while it ran.
    pub cancel_requested: bool,
    /// One entry per failed attempt.
    pub errors: Vec<AttemptErrorView>,
    /// The result, once succeeded (never in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The secret part of the result (never in lists): to the caller that enqueued the job, the
    /// secret, until `DEZKY_SECRET_TTL_SECS` after the job ended; to ops, `"[redacted]"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub secret: Option<serde_json::Value>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id.0,
            kind: j.kind,
            queue: j.queue,
            state: j.state.to_string(),
            attempt: j.attempt,
            max_attempts: j.max_attempts,
            snoozes: j.snoozes,
            priority: j.priority,
            tenant: j.tenant,
            enqueued_by: j.enqueued_by,
            run_at: format_ms(j.run_at),
            created_at: format_ms(j.created_at),
            finished_at: j.finished_at.map(format_ms),
            cancel_requested: j.cancel_requested,
            errors: j.errors.iter().map(AttemptErrorView::from).collect(),
            result: j.result,
            secret: None,
        }
    }
}

/// `GET /v1/jobs` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this state.
    #[param(value_type = Option<String>, pattern = "^(scheduled|available|running|succeeded|dead|cancelled)$")]
    pub state: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only jobs whose args contain this text.
    pub q: Option<String>,
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of jobs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// Jobs, newest first, without results.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last. A search examines a bounded
    /// number of jobs per request, so a page may be short, even empty, and still carry a cursor:
    /// follow it until it is absent.
    pub next_cursor: Option<String>,
}

/// `POST /v1/jobs/{id}/discard` body (optional).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    /// Why, recorded on the job.
    pub reason: Option<String>,
}

/// One queue's counts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueView {
    /// The queue.
    pub queue: String,
    /// Whether fetching is paused.
    pub paused: bool,
    /// Jobs per state.
    pub counts: BTreeMap<String, u64>,
}

impl From<QueueCounts> for QueueView {
    fn from(c: QueueCounts) -> Self {
        Self {
            queue: c.queue,
            paused: c.paused,
            counts: c
                .counts
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect(),
        }
    }
}

/// `GET /v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueList {
    /// Every queue with jobs or a pause flag.
    pub queues: Vec<QueueView>,
}

/// Health answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
    /// Readiness only: each dependency gate, `open` or `closed` (closed while the dependency is
    /// unreachable: its jobs wait, enqueuing goes on).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub gates: Option<std::collections::BTreeMap<String, String>>,
}
