//! The job state machine, written once: a pure function from a job's facts and an event to the
//! job's next facts and what is recorded. `docs/queue-contract.md` is this function in a table;
//! the SQL of the SQLite backend and the Lua of the Redis backend implement it in their own
//! language, and the model-based test (`contract::model`) runs every backend against it step by
//! step, so the backends cannot drift apart without a failing test.

use crate::model::{JobState, Outcome};

/// What the state machine needs to know about a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Where it is.
    pub state: JobState,
    /// Attempts spent.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Whether an operator asked a running job to stop.
    pub cancel_requested: bool,
}

/// How the lease holder ended an attempt (an [`Outcome`] without its payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `Outcome::Succeeded`.
    Succeeded,
    /// `Outcome::Retry`.
    Retry,
    /// `Outcome::Snooze`.
    Snooze,
    /// `Outcome::Blocked`: a snooze that records its reason.
    Blocked,
    /// `Outcome::Abort`.
    Abort,
    /// `Outcome::Cancelled`.
    Cancelled,
}

impl Ending {
    /// The ending of `outcome`.
    pub fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Succeeded(_) => Ending::Succeeded,
            Outcome::Retry { .. } => Ending::Retry,
            Outcome::Snooze(_) => Ending::Snooze,
            Outcome::Blocked { .. } => Ending::Blocked,
            Outcome::Abort(_) => Ending::Abort,
            Outcome::Cancelled => Ending::Cancelled,
        }
    }
}

/// Something that happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Its `run_at` came and a fetch promoted it.
    Promote,
    /// A worker leased it.
    Fetch,
    /// The holder of its current lease ended the attempt.
    Complete(Ending),
    /// Its lease expired and was rescued.
    LeaseExpired,
    /// Its worker gave it back (unstarted, or interrupted by shutdown).
    Release,
    /// An operator asked to cancel it.
    Cancel,
    /// An operator discarded it.
    Discard,
    /// An operator asked to run it again now.
    RetryNow,
}

/// What an event records in the job's error list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The attempt's own error (Retry, Abort) or a block's reason, with its class and message.
    AttemptError,
    /// Class `lease_expired`.
    LeaseExpired,
    /// Class `discarded`, with the operator's reason.
    Discarded,
}

/// The job after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Its next facts.
    pub next: Facts,
    /// The error entry the event appends, if any.
    pub recorded: Option<Recorded>,
    /// The attempt was refunded by a snooze (the job's snooze count goes up).
    pub snoozed: bool,
    /// When the job runs next.
    pub run_at: RunAt,
}

/// How an event moves a job's `run_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAt {
    /// Left as it was.
    Unchanged,
    /// Now (rescue, retry now).
    Now,
    /// Now plus the event's delay (retry backoff or `retry_after`, snooze).
    AfterDelay,
}

/// Why an event does not apply to a job in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// Why `Cancelled` is refused for a job nobody asked to cancel.
pub const NO_CANCEL_REQUEST: &str = "no cancel was requested for this job";

/// Why `cancel` does not apply, in the same words on every backend.
pub const CANCEL_REFUSED: &str = "only unfinished jobs can be cancelled";
/// Why `discard` does not apply.
pub const DISCARD_REFUSED: &str = "only unfinished jobs can be discarded";
/// Why `retry_now` does not apply.
pub const RETRY_REFUSED: &str = "only scheduled, dead or cancelled jobs can be retried";
/// Why `delete` does not apply.
pub const DELETE_REFUSED: &str = "only finished jobs can be deleted";

/// The one transition function. `Err` means the event does not apply (the backend refuses the
/// call, or, for fetch and promotion, does not pick the job).
pub fn step(facts: Facts, event: Event) -> Result<Step, Refused> {
    use JobState::*;
    let Facts {
        state,
        attempt,
        max_attempts,
        cancel_requested,
    } = facts;
    let last = attempt >= max_attempts;
    let go = |state, attempt, cancel_requested| Step {
        next: Facts {
            state,
            attempt,
            max_attempts,
            cancel_requested,
        },
        recorded: None,
        snoozed: false,
        run_at: RunAt::Unchanged,
    };
    let keep = cancel_requested;
    Ok(match (state, event) {
        (Scheduled, Event::Promote) => go(Available, attempt, keep),
        (Available, Event::Fetch) => go(Running, attempt + 1, keep),
        (Running, Event::Complete(ending)) => match ending {
            Ending::Succeeded => go(Succeeded, attempt, keep),
            // A cancel request wins over a retry (River's rule): the job ends cancelled.
            Ending::Retry => {
                let to = if cancel_requested {
                    Cancelled
                } else if last {
                    Dead
                } else {
                    Scheduled
                };
                Step {
                    recorded: Some(Recorded::AttemptError),
                    run_at: delayed_if(to == Scheduled),
                    ..go(to, attempt, keep)
                }
            }
            Ending::Snooze | Ending::Blocked => {
                let to = if cancel_requested {
                    Cancelled
                } else {
                    Scheduled
                };
                Step {
                    snoozed: true,
                    recorded: (ending == Ending::Blocked).then_some(Recorded::AttemptError),
                    run_at: delayed_if(to == Scheduled),
                    ..go(to, attempt.saturating_sub(1), keep)
                }
            }
            Ending::Abort => Step {
                recorded: Some(Recorded::AttemptError),
                ..go(Dead, attempt, keep)
            },
            // Only a real cancel request can end a job cancelled: a handler stopped for a
            // lost lease or a shutdown has nothing to say about the job's fate.
            Ending::Cancelled if cancel_requested => go(Cancelled, attempt, keep),
            Ending::Cancelled => return Err(Refused(NO_CANCEL_REQUEST)),
        },
        (Running, Event::LeaseExpired) => {
            let to = if cancel_requested {
                Cancelled
            } else if last {
                Dead
            } else {
                Available
            };
            Step {
                recorded: Some(Recorded::LeaseExpired),
                run_at: if to == Available {
                    RunAt::Now
                } else {
                    RunAt::Unchanged
                },
                ..go(to, attempt, keep)
            }
        }
        (Running, Event::Release) => {
            let to = if cancel_requested {
                Cancelled
            } else {
                Available
            };
            go(to, attempt.saturating_sub(1), keep)
        }
        (Running, Event::Cancel) => go(Running, attempt, true),
        (Scheduled | Available, Event::Cancel) => go(Cancelled, attempt, keep),
        (Scheduled | Available | Running, Event::Discard) => Step {
            recorded: Some(Recorded::Discarded),
            ..go(Dead, attempt, keep)
        },
        (Scheduled | Dead | Cancelled, Event::RetryNow) => Step {
            next: Facts {
                state: Available,
                attempt,
                max_attempts: max_attempts.max(attempt + 1),
                cancel_requested: false,
            },
            recorded: None,
            snoozed: false,
            run_at: RunAt::Now,
        },
        (_, Event::Cancel) => return Err(Refused(CANCEL_REFUSED)),
        (_, Event::Discard) => return Err(Refused(DISCARD_REFUSED)),
        (_, Event::RetryNow) => return Err(Refused(RETRY_REFUSED)),
        (_, Event::Complete(_) | Event::LeaseExpired | Event::Release) => {
            return Err(Refused("the job is not running"));
        }
        (_, Event::Promote) => return Err(Refused("the job is not scheduled")),
        (_, Event::Fetch) => return Err(Refused("the job is not available")),
    })
}

/// `AfterDelay` when the job is rescheduled, else `Unchanged`.
fn delayed_if(rescheduled: bool) -> RunAt {
    if rescheduled {
        RunAt::AfterDelay
    } else {
        RunAt::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(attempt: u32, max: u32, cancel: bool) -> Facts {
        Facts {
            state: JobState::Running,
            attempt,
            max_attempts: max,
            cancel_requested: cancel,
        }
    }

    fn to(facts: Facts, event: Event) -> JobState {
        step(facts, event)
            .map(|s| s.next.state)
            .unwrap_or(facts.state)
    }

    #[test]
    fn a_cancel_request_wins_over_retry_and_snooze_but_not_abort_or_success() {
        let asked = running(1, 5, true);
        assert_eq!(
            to(asked, Event::Complete(Ending::Retry)),
            JobState::Cancelled
        );
        assert_eq!(
            to(asked, Event::Complete(Ending::Snooze)),
            JobState::Cancelled
        );
        assert_eq!(to(asked, Event::Complete(Ending::Abort)), JobState::Dead);
        assert_eq!(
            to(asked, Event::Complete(Ending::Succeeded)),
            JobState::Succeeded
        );
        assert_eq!(
            to(asked, Event::Complete(Ending::Cancelled)),
            JobState::Cancelled
        );
    }

    #[test]
    fn cancelled_without_a_request_is_refused() {
        assert!(step(running(1, 5, false), Event::Complete(Ending::Cancelled)).is_err());
    }

    #[test]
    fn retry_spends_snooze_and_release_refund() {
        let s = step(running(2, 5, false), Event::Complete(Ending::Retry)).unwrap();
        assert_eq!((s.next.state, s.next.attempt), (JobState::Scheduled, 2));
        let s = step(running(2, 5, false), Event::Complete(Ending::Snooze)).unwrap();
        assert_eq!((s.next.attempt, s.snoozed), (1, true));
        let s = step(running(2, 5, false), Event::Release).unwrap();
        assert_eq!((s.next.state, s.next.attempt), (JobState::Available, 1));
        let s = step(running(5, 5, false), Event::Complete(Ending::Retry)).unwrap();
        assert_eq!(s.next.state, JobState::Dead);
    }

    #[test]
    fn retry_now_clears_the_request_and_grants_an_attempt() {
        let dead = Facts {
            state: JobState::Cancelled,
            attempt: 3,
            max_attempts: 3,
            cancel_requested: true,
        };
        let s = step(dead, Event::RetryNow).unwrap();
        assert_eq!(
            s.next,
            Facts {
                state: JobState::Available,
                attempt: 3,
                max_attempts: 4,
                cancel_requested: false
            }
        );
    }
}
