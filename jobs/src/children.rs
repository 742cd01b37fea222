//! Child jobs: a handler enqueues follow-up work through its context. A child is enqueued on
//! behalf of whoever enqueued the parent (so that caller reads it, and no one else does), for
//! the parent's tenant, and under a key derived from the parent's id and the child's name, so
//! a parent that runs again gets the same child back instead of a second one. The worker adds
//! the children's ids to the parent's result (`children`).

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
}

impl Children {
    /// The ids enqueued so far, in order, each once.
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A fresh record of children, for a new attempt.
pub fn new_children() -> Arc<Children> {
    Arc::new(Children::default())
}

impl JobContext {
    /// Enqueues a child job of `kind` with `args`, for this job's tenant. `name` tells this parent's children apart
    /// (`invite:a@b.eu`): enqueuing the same name again — in this attempt or a later one —
    /// answers the same child.
    pub async fn enqueue_child(
        &self,
        name: &str,
        kind: &str,
        args: serde_json::Value,
    ) -> Result<String, JobError> {
        let key = format!("child:{}:{name}", self.id);
        let tenant = self.tenant.clone();
        Ok(self
            .push_child(key, CHILD_KEY_WINDOW, kind, args, tenant)
            .await?
            .0)
    }

    /// Enqueues a child job of `kind` for `tenant` unless one pushed under `key` — by any job —
    /// is still unfinished: overlapping parents (two reconciliations) enqueue it once. Answers
    /// its id and whether it was already there.
    pub async fn enqueue_child_once(
        &self,
        key: &str,
        kind: &str,
        args: serde_json::Value,
        tenant: Option<String>,
    ) -> Result<(String, bool), JobError> {
        let key = format!("once:{key}");
        self.push_child(key, ONCE_KEY_WINDOW, kind, args, tenant)
            .await
    }

    async fn push_child(
        &self,
        key: String,
        window: Duration,
        kind: &str,
        args: serde_json::Value,
        tenant: Option<String>,
    ) -> Result<(String, bool), JobError> {
        let (queue, registry) = self
            .services
            .children
            .as_ref()
            .ok_or_else(|| JobError::Abort {
                class: "misconfigured",
                message: "this process cannot enqueue child jobs".into(),
            })?;
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
        let pushed = queue
            .push(job)
            .await
            .map_err(|e| JobError::retry(format!("cannot enqueue a child job: {e}")))?;
        let mut ids = self.children.ids.lock().unwrap_or_else(|p| p.into_inner());
        if !ids.contains(&pushed.id.0) {
            ids.push(pushed.id.0.clone());
        }
        Ok((pushed.id.0, pushed.duplicate))
    }
}
