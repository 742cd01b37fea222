//! The job model: states, what a push asks for, what a fetch hands out, what an attempt ends
//! with, and what admin queries return. Backend-neutral; times are [`UnixMillis`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;

/// A job's globally unique id: a ULID, so ids sort by creation and resolve without the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl JobId {
    /// A fresh id, greater than every id this process made before (ULIDs of one millisecond
    /// are otherwise random), so ids order pushes FIFO.
    pub fn generate() -> Self {
        static GENERATOR: std::sync::Mutex<ulid::Generator> =
            std::sync::Mutex::new(ulid::Generator::new());
        let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
        Self(
            generator
                .generate()
                .unwrap_or_else(|_| ulid::Ulid::new())
                .to_string(),
        )
    }

    /// A fresh id that carries its queue, `<ULID>.<queue>`, so a backend can go straight to the
    /// queue's data (on Redis: one call on the queue's slot, however many queues there are). Ids
    /// still sort by creation: the ULID leads and has a fixed width.
    pub fn generate_in(queue: &str) -> Self {
        let mut id = Self::generate();
        id.0.push('.');
        id.0.push_str(queue);
        id
    }

    /// Accepts a ULID, optionally followed by `.` and a valid queue name; anything else is
    /// rejected before any look-up.
    pub fn parse(s: &str) -> Option<Self> {
        let (ulid, queue) = match s.split_at_checked(ULID_LEN) {
            Some((ulid, "")) => (ulid, None),
            Some((ulid, rest)) => (ulid, Some(rest.strip_prefix('.')?)),
            None => return None,
        };
        let mut id = ulid::Ulid::from_string(ulid).ok()?.to_string();
        if let Some(queue) = queue {
            crate::validate::validate_queue_name(queue).ok()?;
            id.push('.');
            id.push_str(queue);
        }
        Some(Self(id))
    }

    /// The queue the id carries, if it carries one.
    pub fn queue(&self) -> Option<&str> {
        self.0.get(ULID_LEN..)?.strip_prefix('.')
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters of a ULID's text form.
const ULID_LEN: usize = 26;

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life. See the state machine in `docs/queue-contract.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its `run_at` (first run or a retry's backoff, or snoozed).
    Scheduled,
    /// Due, waiting for a worker.
    Available,
    /// Leased by a worker.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed for good: out of attempts, aborted, or discarded.
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 6] = [
        JobState::Scheduled,
        JobState::Available,
        JobState::Running,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job can still run (and so still holds its dedup key).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            JobState::Scheduled | JobState::Available | JobState::Running
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state `{s}`"))
    }
}

/// Deduplication of pushes: while a job pushed with `key` is unfinished, or within `window`
/// after it was first pushed, pushing the same key again returns that job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedup {
    /// The key; scope it yourself (the HTTP shim prefixes caller and kind).
    pub key: String,
    /// How long after the first push the key keeps answering, even once the job finished.
    pub window: Duration,
    /// A digest of what was pushed, so a caller can tell a faithful replay from a conflicting one.
    pub fingerprint: Option<String>,
}

/// What a push asks for.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job kind (names the handler).
    pub kind: String,
    /// The queue; `None` means the queue named after the kind.
    pub queue: Option<String>,
    /// The payload, JSON.
    pub args: serde_json::Value,
    /// Higher runs first. Default 0.
    pub priority: i32,
    /// Not before this time; `None` means now.
    pub run_at: Option<UnixMillis>,
    /// Attempts allowed, counting the first. At least 1.
    pub max_attempts: u32,
    /// The tenant the job works for, for search (and fairness later).
    pub tenant: Option<String>,
    /// Who enqueued it (the API token's name, `scheduler`, …).
    pub enqueued_by: Option<String>,
    /// Optional deduplication.
    pub dedup: Option<Dedup>,
}

/// Priorities a push may use (higher runs first).
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;

/// The default attempts a job gets when its push does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 20;

impl NewJob {
    /// A job of `kind` with `args` and every other field at its default.
    pub fn new(kind: impl Into<String>, args: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            queue: None,
            args,
            priority: 0,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            tenant: None,
            enqueued_by: None,
            dedup: None,
        }
    }

    /// The queue this job goes to.
    pub fn queue_name(&self) -> &str {
        self.queue.as_deref().unwrap_or(&self.kind)
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The job's id: new, or the existing one for a dedup hit.
    pub id: JobId,
    /// `true` when the dedup key matched an existing job and nothing was inserted.
    pub duplicate: bool,
    /// The fingerprint the existing job was pushed with (on a duplicate), to compare bodies.
    pub existing_fingerprint: Option<String>,
}

/// A lease on one job: the token fences every later call about this attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// Its queue, so completing needs no look-up.
    pub queue: String,
    /// Random per fetch; a re-leased job gets a new one.
    pub token: i64,
    /// The attempt this lease is for (1-based), which retry backoff is computed from.
    pub attempt: u32,
}

/// A job handed to a worker by `fetch`.
#[derive(Debug, Clone)]
pub struct LeasedJob {
    /// The lease that fences completion.
    pub lease: Lease,
    /// The job kind.
    pub kind: String,
    /// The queue.
    pub queue: String,
    /// The payload.
    pub args: serde_json::Value,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// Priority, for ordering a fetched batch.
    pub priority: i32,
    /// When the job became due (its `run_at` as the fetch found it): the time from it to the
    /// lease is the job's pickup latency.
    pub run_at: UnixMillis,
}

/// What `fetch` asks for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The queue to lease from.
    pub queue: String,
    /// The worker's unique name, recorded on the job.
    pub worker: String,
    /// At most this many jobs.
    pub limit: usize,
    /// How long the lease lasts unless renewed.
    pub lease_ttl: Duration,
}

/// What `fetch` did.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The jobs leased, in priority, run_at, FIFO order.
    pub jobs: Vec<LeasedJob>,
    /// Scheduled jobs made available by this call (bounded: see `promote_limit`).
    pub promoted: usize,
    /// Expired leases returned to the queue (or dead) by this call (bounded likewise).
    pub rescued: usize,
}

/// How an attempt ended, as decided by the worker's ack layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done, with a result (JSON `null` for none).
    Succeeded(serde_json::Value),
    /// A transient failure: spends the attempt; retried after backoff (or `retry_after` when
    /// the dependency said when) unless it was the last attempt.
    Retry {
        /// The error.
        error: AttemptFailure,
        /// A delay the dependency asked for (e.g. HTTP `Retry-After`), instead of backoff.
        retry_after: Option<Duration>,
    },
    /// Run again after `delay`, without spending the attempt.
    Snooze(Duration),
    /// A dependency gate holds the job (its dependency is unreachable): a snooze that also
    /// records why in the job's errors, so a job's waits on the gate can be added up.
    Blocked {
        /// When to try again.
        delay: Duration,
        /// Why it waits (class `gate_closed`).
        reason: AttemptFailure,
    },
    /// A permanent failure: dead at once.
    Abort(AttemptFailure),
    /// The handler saw a cancellation request and stopped.
    Cancelled,
}

/// An attempt's error as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// A short machine-readable class (`transient`, `timeout`, `panic`, `permanent`, …).
    pub class: String,
    /// The message, for people. Must not contain secrets.
    pub message: String,
}

impl AttemptFailure {
    /// A failure of `class` with `message`.
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            message: message.into(),
        }
    }
}

/// An error kept on the job, one per failed attempt (and per admin discard or lost lease).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    /// When, ms since the epoch.
    pub at: UnixMillis,
    /// The attempt it ended.
    pub attempt: u32,
    /// Machine-readable class.
    pub class: String,
    /// Message.
    pub message: String,
}

/// A job as admin queries return it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// State.
    pub state: JobState,
    /// Payload.
    pub args: serde_json::Value,
    /// Priority.
    pub priority: i32,
    /// Attempts spent (the running one included).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Times the job snoozed (attempts refunded).
    pub snoozes: u32,
    /// Tenant.
    pub tenant: Option<String>,
    /// Who enqueued it.
    pub enqueued_by: Option<String>,
    /// When it runs (next), or ran last.
    pub run_at: UnixMillis,
    /// When it was pushed.
    pub created_at: UnixMillis,
    /// When it finished, if it did.
    pub finished_at: Option<UnixMillis>,
    /// Whether cancellation was asked for while it ran.
    pub cancel_requested: bool,
    /// The worker holding it, while running.
    pub worker: Option<String>,
    /// Errors, oldest first.
    pub errors: Vec<RecordedError>,
    /// Result, once succeeded (`None` in lists).
    pub result: Option<serde_json::Value>,
}

/// Filters and paging for `list`. Lists are newest first.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only jobs this caller enqueued (the API sets it for every caller but ops).
    pub enqueued_by: Option<String>,
    /// Only jobs whose args contain this text.
    pub text: Option<String>,
    /// Page size (clamped to 1..=500).
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// One page of `list`.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// Jobs, newest first, without results.
    pub jobs: Vec<Job>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Counts of one queue's jobs per state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueCounts {
    /// The queue.
    pub queue: String,
    /// Whether fetching is paused.
    pub paused: bool,
    /// `(state, count)` for every state (zeros included).
    pub counts: Vec<(JobState, u64)>,
}

impl QueueCounts {
    /// A queue with zero jobs in every state, not paused.
    pub fn empty(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            paused: false,
            counts: JobState::ALL.iter().map(|s| (*s, 0)).collect(),
        }
    }

    /// The count of one state.
    pub fn get(&self, state: JobState) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// What renewing a set of leases found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renewed {
    /// Leases no longer held (expired and rescued, or completed elsewhere): stop working on them.
    pub lost: Vec<Lease>,
    /// Leases whose job has a cancellation request.
    pub cancel_requested: Vec<Lease>,
}

/// A lock held: its key and the fencing token it was taken with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldLock {
    /// The key (`tenant:acme`).
    pub key: String,
    /// Greater than every token of this key handed out before.
    pub token: i64,
}

/// How long finished jobs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Succeeded jobs (default 24 h).
    pub succeeded: Duration,
    /// Dead and cancelled jobs (default 30 days).
    pub dead: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            succeeded: Duration::from_secs(24 * 3600),
            dead: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What the overview shows of one queue beyond its counts, on the store's clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueActivity {
    /// The queue.
    pub queue: String,
    /// How long the available job due longest has waited (the store's now − its `run_at`);
    /// `None` while no job is available.
    pub oldest_available_age: Option<Duration>,
    /// For each window asked for, in order: jobs that ended within it.
    pub finished: Vec<FinishedWithin>,
}

/// Jobs that ended within a window that closes now (by `finished_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FinishedWithin {
    /// The window.
    pub window: Duration,
    /// Jobs that succeeded within it.
    pub succeeded: u64,
    /// Jobs that died within it (out of attempts, aborted or discarded).
    pub dead: u64,
}

/// What a bulk action does to each dead job it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// `retry_now`.
    Retry,
    /// `delete`.
    Delete,
}

/// What one bulk call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkDone {
    /// Jobs changed (a job that left `dead` meanwhile is skipped, not counted).
    pub touched: usize,
    /// Jobs the call looked at.
    pub examined: usize,
    /// Where to go on, when the call stopped at its bounds before the end of the filter.
    pub next_cursor: Option<String>,
}
