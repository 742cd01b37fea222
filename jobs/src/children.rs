//! Child jobs: a handler enqueues follow-up work through its context. A child is enqueued on
//! behalf of whoever enqueued the parent (so that caller reads it, and no one else does), for
//! the parent's tenant, and under a key derived from the parent's id and the child's name, so
//! a parent that runs again gets the same child back instead of a second one. The worker adds
//! the children's ids to the parent's result (`children`).
//!
//! When the queue is in the store's database, [`enqueue_child`](JobContext::enqueue_child) only
//! stages the child: the worker pushes it in the transaction that completes the parent, so a
//! parent that fails, or loses its lease, or dies before it completes, leaves no child behind
//! (River's transactional completion). Elsewhere (Redis) the child is pushed at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dezky_queue::{Dedup, JobId, NewJob};
use tokio::sync::OnceCell;

use crate::context::JobContext;
use crate::error::JobError;

/// How long a child's key answers with the child, so a parent retried within it gets it back.
pub const CHILD_KEY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a once-key answers after its job was pushed, even once it finished: short, so the
/// next check may enqueue again.
pub const ONCE_KEY_WINDOW: Duration = Duration::from_secs(1);

/// The children an attempt enqueued, and what it learnt of its own job to enqueue them.
#[derive(Debug, Default)]
pub struct Children {
    enqueued_by: OnceCell<Option<String>>,
    ids: Mutex<Vec<String>>,
    staged: Mutex<Vec<NewJob>>,
}

impl Children {
    /// The ids enqueued so far, in order, each once.
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The children staged for the parent's completion, in order, each once (taken: a second
    /// call answers none).
    pub fn take_staged(&self) -> Vec<NewJob> {
        std::mem::take(&mut *self.staged.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Notes a child's id for the parent's result.
    pub fn note(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }

    /// Stages `job` unless a child of the same key is staged already.
    fn stage(&self, job: NewJob) {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        let key = |j: &NewJob| j.dedup.as_ref().map(|d| d.key.clone());
        if !staged.iter().any(|s| key(s) == key(&job)) {
            staged.push(job);
        }
    }
}

/// A fresh record of children, for a new attempt.
pub fn new_children() -> Arc<Children> {
    Arc::new(Children::default())
}

impl JobContext {
    /// Enqueues a child job of `kind` with `args`, for this job's tenant. `name` tells this
    /// parent's children apart (`invite:a@b.eu`): enqueuing the same name again — in this
    /// attempt or a later one — enqueues nothing more. The child's id is in the parent's result
    /// (`children`). When the queue is in the store's database, the child is pushed with the
    /// parent's completion, and only if the parent succeeds.
    pub async fn enqueue_child(
        &self,
        name: &str,
        kind: &str,
        args: serde_json::Value,
    ) -> Result<(), JobError> {
        let key = format!("child:{}:{name}", self.id);
        let tenant = self.tenant.clone();
        let job = self
            .child_job(key, CHILD_KEY_WINDOW, kind, args, tenant)
            .await?;
        if self.services.shared_db.is_some() {
            self.children.stage(job);
            return Ok(());
        }
        self.push_child(job).await.map(drop)
    }

    /// Enqueues a child job of `kind` for `tenant` unless one pushed under `key` — by any job —
    /// is still unfinished: overlapping parents (two reconciliations) enqueue it once. Answers
    /// its id and whether it was already there. Always pushed at once, whatever the queue: the
    /// answer is about what other jobs pushed, now.
    pub async fn enqueue_child_once(
        &self,
        key: &str,
        kind: &str,
        args: serde_json::Value,
        tenant: Option<String>,
    ) -> Result<(String, bool), JobError> {
        let key = format!("once:{key}");
        let job = self
            .child_job(key, ONCE_KEY_WINDOW, kind, args, tenant)
            .await?;
        self.push_child(job).await
    }

    /// The child as it is pushed: checked against its kind, on behalf of the parent's enqueuer,
    /// under `key`.
    async fn child_job(
        &self,
        key: String,
        window: Duration,
        kind: &str,
        args: serde_json::Value,
        tenant: Option<String>,
    ) -> Result<NewJob, JobError> {
        let (queue, registry) = self.child_services()?;
        let erased = registry.get(kind).ok_or_else(|| JobError::Abort {
            class: "invalid_child",
            message: format!("unknown child kind `{kind}`"),
        })?;
        erased.validate(&args).map_err(|e| JobError::Abort {
            class: "invalid_child",
            message: format!("child args do not fit kind `{kind}`: {e}"),
        })?;
        let enqueued_by = self
            .children
            .enqueued_by
            .get_or_try_init(|| async {
                let parent = queue
                    .get(&JobId(self.id.clone()))
                    .await
                    .map_err(|e| JobError::retry(format!("cannot read the parent job: {e}")))?;
                Ok::<_, JobError>(parent.and_then(|p| p.enqueued_by))
            })
            .await?
            .clone();
        let mut job = NewJob::new(kind, args);
        job.max_attempts = erased.settings().max_attempts;
        job.tenant = tenant;
        job.enqueued_by = enqueued_by;
        job.dedup = Some(Dedup {
            key,
            window,
            fingerprint: None,
        });
        Ok(job)
    }

    /// The queue children go to and the kinds they may be.
    fn child_services(&self) -> Result<&(dezky_queue::DynQueue, crate::Registry), JobError> {
        self.services
            .children
            .as_ref()
            .ok_or_else(|| JobError::Abort {
                class: "misconfigured",
                message: "this process cannot enqueue child jobs".into(),
            })
    }

    /// Pushes `job` now and notes its id.
    async fn push_child(&self, job: NewJob) -> Result<(String, bool), JobError> {
        let (queue, _) = self.child_services()?;
        let pushed = queue
            .push(job)
            .await
            .map_err(|e| JobError::retry(format!("cannot enqueue a child job: {e}")))?;
        self.children.note(&pushed.id.0);
        Ok((pushed.id.0, pushed.duplicate))
    }
}
