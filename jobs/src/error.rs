//! What a handler answers when it does not succeed. The worker's ack layer turns each variant
//! into the queue outcome of the same name.

use std::time::Duration;

use dezky_authentik::AuthentikError;

use crate::services::Dependency;

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A transient failure: retry after backoff (or after `retry_after`), spending the attempt.
    #[error("{class}: {message}")]
    Retry {
        /// Machine-readable class (`transient`, `rate_limited`, …).
        class: &'static str,
        /// For people; never a secret.
        message: String,
        /// When the dependency said to come back.
        retry_after: Option<Duration>,
    },
    /// Run again after the delay without spending the attempt.
    #[error("snoozed for {0:?}")]
    Snooze(Duration),
    /// A dependency the kind needs is unreachable (no connection, no answer, 5xx): its gate
    /// closes deployment-wide and the job waits, without spending the attempt, until a probe
    /// finds the dependency back.
    #[error("{} is unreachable: {message}", dependency.name())]
    Unavailable {
        /// Which.
        dependency: Dependency,
        /// For people; never a secret.
        message: String,
    },
    /// A permanent failure: dead at once.
    #[error("{class}: {message}")]
    Abort {
        /// Machine-readable class (`permanent`, `invalid_args`, …).
        class: &'static str,
        /// For people; never a secret.
        message: String,
    },
    /// The handler stopped because it was asked to ([`JobContext::stop_reason`]): the job ends
    /// `cancelled` when an operator asked, is given back (attempt refunded) at shutdown, and is
    /// retried (class `stopped`) when nobody asked.
    ///
    /// [`JobContext::stop_reason`]: crate::JobContext::stop_reason
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    /// A transient failure of class `transient`.
    pub fn retry(message: impl Into<String>) -> Self {
        JobError::Retry {
            class: "transient",
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent failure of class `permanent`.
    pub fn abort(message: impl Into<String>) -> Self {
        JobError::Abort {
            class: "permanent",
            message: message.into(),
        }
    }
}

/// Authentik's failures as a handler answers them: unreachable → the gate; rate limited → retry
/// when Authentik said; anything else (refused, forbidden, not found, unexpected) → dead.
impl From<AuthentikError> for JobError {
    fn from(e: AuthentikError) -> Self {
        match e {
            // Not a failure of the job: another run holds it now. The queue refuses this run's
            // answer (its lease is stale); a retry is what it would be if it did not.
            AuthentikError::Fenced(_) => JobError::Retry {
                class: "lease_expired",
                message: e.to_string(),
                retry_after: None,
            },
            AuthentikError::RateLimited { retry_after } => JobError::Retry {
                class: "rate_limited",
                message: e.to_string(),
                retry_after,
            },
            e if e.is_transient() => JobError::Unavailable {
                dependency: Dependency::Authentik,
                message: e.to_string(),
            },
            e => JobError::Abort {
                class: "authentik",
                message: e.to_string(),
            },
        }
    }
}
