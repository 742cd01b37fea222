//! What the application gives job kinds: the Authentik client, the store, and a handle to
//! enqueue child jobs — each present when the process was configured with it. A kind names the
//! dependencies it cannot run without ([`KindSettings::needs`](crate::KindSettings::needs)), so a
//! worker that lacks one does not run the kind (and says so at start), while every process still
//! knows the kind (the API validates and documents it wherever it runs).

use std::sync::Arc;

use dezky_authentik::{AuthentikClient, WriteFence};
use dezky_queue::DynQueue;
use dezky_store::{SecretVault, Store};

use crate::error::JobError;
use crate::registry::Registry;

/// A dependency a kind may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// The Authentik API (`DEZKY_AUTHENTIK_URL`).
    Authentik,
}

impl Dependency {
    /// Its name, as the gate and the logs call it.
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Authentik => "authentik",
        }
    }

    /// The lock that holds its gate closed, in the queue's store (see the worker's `gate`).
    pub fn gate_key(self) -> String {
        format!("gate:{}", self.name())
    }

    /// The setting that provides it.
    pub fn setting(self) -> &'static str {
        match self {
            Dependency::Authentik => "DEZKY_AUTHENTIK_URL",
        }
    }
}

/// The application's services, as kinds see them. Cheap to clone.
#[derive(Clone, Default)]
pub struct Services {
    /// The Authentik client, when configured.
    pub authentik: Option<AuthentikClient>,
    /// The store.
    pub store: Option<Store>,
    /// The queue and the kinds it may be given, for child jobs.
    pub children: Option<(DynQueue, Registry)>,
    /// Where the secret parts of results are sealed.
    pub secrets: Option<SecretVault>,
    /// How invites are delivered.
    pub invites: crate::kinds::invite::InviteSettings,
    /// The queue's tables, when they are in the store's database: a successful attempt's store
    /// writes, its children and its completion then commit in one transaction.
    pub shared_db: Option<dezky_queue::InDatabase>,
    /// The job run these services are for (`<job id>/<attempt>/<lease token>`), recorded with
    /// the store writes a handler makes.
    pub run: Option<String>,
    /// Whether that run still holds its lease: asked before each Authentik write and each
    /// store write (none outside a worker).
    pub fence: Option<Arc<dyn WriteFence>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("authentik", &self.authentik.is_some())
            .field("store", &self.store.as_ref().map(Store::dialect))
            .field("children", &self.children.is_some())
            .field("secrets", &self.secrets.is_some())
            .field("invites", &self.invites)
            .field("shared_db", &self.shared_db.is_some())
            .field("run", &self.run)
            .field("fence", &self.fence.is_some())
            .finish()
    }
}

impl Services {
    /// These services for the run of one lease: the Authentik client names it in each request
    /// it sends, as `<job id>/<attempt>/<lease token>` (a refunded attempt runs again under the
    /// same number; the token tells the runs apart), and asks `fence` before each write.
    pub fn for_lease(
        &self,
        lease: &dezky_queue::Lease,
        fence: Option<Arc<dyn WriteFence>>,
    ) -> Self {
        let run = format!("{}/{}/{:x}", lease.id.0, lease.attempt, lease.token);
        let authentik = self.authentik.as_ref().map(|c| {
            let client = c.for_job(run.clone());
            match &fence {
                Some(fence) => client.with_fence(fence.clone()),
                None => client,
            }
        });
        Self {
            authentik,
            run: Some(run),
            fence,
            ..self.clone()
        }
    }

    /// Before a store write: whether this run still holds its lease (a run that lost it must
    /// not overwrite what the run holding it now wrote). Answers a retry otherwise, which the
    /// queue refuses from a stale lease.
    pub fn may_write(&self) -> Result<(), JobError> {
        match &self.fence {
            Some(fence) => fence.check().map_err(|why| JobError::Retry {
                class: "lease_expired",
                message: format!("not written: this run no longer holds its job ({why})"),
                retry_after: None,
            }),
            None => Ok(()),
        }
    }

    /// Whether `dependency` is configured.
    pub fn has(&self, dependency: Dependency) -> bool {
        match dependency {
            Dependency::Authentik => self.authentik.is_some(),
        }
    }

    /// The Authentik client; a kind that declares it needs Authentik always has one.
    pub fn authentik(&self) -> Result<&AuthentikClient, JobError> {
        self.authentik
            .as_ref()
            .ok_or_else(|| missing(Dependency::Authentik.setting()))
    }

    /// The store.
    pub fn store(&self) -> Result<&Store, JobError> {
        self.store.as_ref().ok_or_else(|| missing("a store"))
    }
}

fn missing(what: &str) -> JobError {
    JobError::Abort {
        class: "misconfigured",
        message: format!("this process was started without {what}"),
    }
}
