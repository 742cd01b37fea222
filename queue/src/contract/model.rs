//! The reference queue of the model-based test: the contract as a plain in-memory structure,
//! every transition taken from [`machine::step`](crate::machine::step). Jobs and leases are
//! numbered in the order they were made, so the test maps them to the backend's ids and tokens.

use std::collections::{BTreeSet, HashMap};

use crate::lock::{LockEvent, LockFacts, lock_step};
use crate::machine::{Ending, Event, Facts, Recorded, RunAt, step};
use crate::model::{JobState, Retention};

/// A job as the model sees it.
#[derive(Debug, Clone)]
pub struct ModelJob {
    /// Its queue.
    pub queue: String,
    /// Priority.
    pub priority: i32,
    /// When it runs next (compared only while scheduled or available).
    pub run_at: i64,
    /// State, attempts and cancel request.
    pub facts: Facts,
    /// Attempts refunded by snoozes.
    pub snoozes: u32,
    /// Recorded errors: (at, attempt, class).
    pub errors: Vec<(i64, u32, String)>,
    /// The lease (by number) holding it while running.
    pub lease: Option<usize>,
    /// When that lease expires.
    pub lease_expires_at: i64,
    /// When it finished.
    pub finished_at: Option<i64>,
    /// Deleted by retention.
    pub pruned: bool,
}

/// What a pushed job asks for, in the model's terms.
#[derive(Debug, Clone)]
pub struct ModelPush {
    /// Queue.
    pub queue: String,
    /// Priority.
    pub priority: i32,
    /// Delay before it is due (ms).
    pub delay_ms: i64,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Dedup key and window (ms).
    pub dedup: Option<(String, i64)>,
}

/// How a renewal found a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still held, extended.
    Held,
    /// Held, and its job has a cancel request.
    CancelRequested,
    /// No longer held (expired, rescued, completed or discarded).
    Lost,
}

/// One queue's activity: its name, the oldest available job's age (ms), and per window the
/// jobs that succeeded and died within it.
pub type ActivityLine = (String, Option<i64>, Vec<(u64, u64)>);

/// How an operation ended, in terms both the model and a backend answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Success with a state.
    State(JobState),
    /// A count (release, rescue, prune).
    Count(usize),
    /// Pushed: per job, its number and whether it was a duplicate.
    Pushed(Vec<(usize, bool)>),
    /// Fetched: rescued, promoted, and the jobs leased in order (by number, with the run_at
    /// the lease reports).
    Fetched(usize, usize, Vec<(usize, i64)>),
    /// A renewal's verdict.
    Renewed(Renewal),
    /// A lock operation's number: the token taken (0: held by another), or 1/0 for whether a
    /// renewal or release held.
    Lock(i64),
    /// One answer per item (complete many).
    Many(Vec<Answer>),
    /// Per queue that counts list: its name, the oldest available job's age (ms), and per window
    /// the jobs that succeeded and died within it.
    Activity(Vec<ActivityLine>),
    /// Nothing to say (pause, resume, clock).
    Done,
    /// `QueueError::LeaseLost`.
    LeaseLost,
    /// `QueueError::NotFound`.
    NotFound,
    /// `QueueError::InvalidState`.
    InvalidState,
    /// `QueueError::Invalid`.
    Invalid,
}

/// The reference queue.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The clock (ms).
    pub now: i64,
    /// Every job ever pushed, by number.
    pub jobs: Vec<ModelJob>,
    /// Lease number → job number.
    pub leases: Vec<usize>,
    /// Paused queues.
    pub paused: BTreeSet<String>,
    /// (queue, key) → (job number, window end).
    pub dedup: HashMap<(String, String), (usize, i64)>,
    /// Lock key → its facts.
    pub locks: HashMap<String, LockFacts>,
}

impl Model {
    /// A model whose clock reads `now`.
    pub fn new(now: i64) -> Self {
        Self {
            now,
            ..Self::default()
        }
    }

    /// Takes `event` on job `j` through the state machine, applying what it says.
    fn apply(&mut self, j: usize, event: Event, class: &str, delay_ms: i64) -> Answer {
        let now = self.now;
        let job = &mut self.jobs[j];
        let Ok(s) = step(job.facts, event) else {
            return Answer::InvalidState;
        };
        if let Some(recorded) = s.recorded {
            let class = match recorded {
                Recorded::AttemptError => class,
                Recorded::LeaseExpired => "lease_expired",
                Recorded::Discarded => "discarded",
            };
            job.errors.push((now, job.facts.attempt, class.to_owned()));
        }
        job.snoozes += u32::from(s.snoozed);
        match s.run_at {
            RunAt::Now => job.run_at = now,
            RunAt::AfterDelay => job.run_at = now + delay_ms,
            RunAt::Unchanged => {}
        }
        if s.next.state != JobState::Running {
            job.lease = None;
        }
        job.finished_at = if s.next.state.is_unfinished() {
            None
        } else if job.facts.state.is_unfinished() {
            Some(now)
        } else {
            job.finished_at
        };
        job.facts = s.next;
        Answer::State(s.next.state)
    }

    /// Pushes jobs (a bulk when more than one).
    pub fn push(&mut self, jobs: &[ModelPush]) -> Answer {
        if jobs.iter().any(|p| p.queue != jobs[0].queue) {
            return Answer::Invalid;
        }
        let mut out = Vec::new();
        for p in jobs {
            if let Some((key, _)) = &p.dedup
                && let Some(&(existing, until)) = self.dedup.get(&(p.queue.clone(), key.clone()))
            {
                let live = &self.jobs[existing];
                if (!live.pruned && live.facts.state.is_unfinished()) || until > self.now {
                    out.push((existing, true));
                    continue;
                }
            }
            let n = self.jobs.len();
            let run_at = self.now + p.delay_ms;
            self.jobs.push(ModelJob {
                queue: p.queue.clone(),
                priority: p.priority,
                run_at,
                facts: Facts {
                    state: if run_at <= self.now {
                        JobState::Available
                    } else {
                        JobState::Scheduled
                    },
                    attempt: 0,
                    max_attempts: p.max_attempts,
                    cancel_requested: false,
                },
                snoozes: 0,
                errors: Vec::new(),
                lease: None,
                lease_expires_at: 0,
                finished_at: None,
                pruned: false,
            });
            if let Some((key, window)) = &p.dedup {
                self.dedup
                    .insert((p.queue.clone(), key.clone()), (n, self.now + window));
            }
            out.push((n, false));
        }
        Answer::Pushed(out)
    }

    fn live(&self, queue: Option<&str>, state: JobState) -> Vec<usize> {
        (0..self.jobs.len())
            .filter(|&j| {
                let job = &self.jobs[j];
                !job.pruned && job.facts.state == state && queue.is_none_or(|q| job.queue == q)
            })
            .collect()
    }

    /// Rescues expired leases (of one queue, or all).
    pub fn rescue(&mut self, queue: Option<&str>) -> usize {
        let now = self.now;
        let expired: Vec<usize> = self
            .live(queue, JobState::Running)
            .into_iter()
            .filter(|&j| self.jobs[j].lease_expires_at <= now)
            .collect();
        for &j in &expired {
            self.apply(j, Event::LeaseExpired, "", 0);
        }
        expired.len()
    }

    /// Rescues, promotes, then leases up to `limit` jobs of `queue` for `ttl_ms`.
    pub fn fetch(&mut self, queue: &str, limit: usize, ttl_ms: i64) -> Answer {
        let rescued = self.rescue(Some(queue));
        let due: Vec<usize> = self
            .live(Some(queue), JobState::Scheduled)
            .into_iter()
            .filter(|&j| self.jobs[j].run_at <= self.now)
            .collect();
        for &j in &due {
            self.apply(j, Event::Promote, "", 0);
        }
        let mut leased = Vec::new();
        if !self.paused.contains(queue) {
            let mut ready = self.live(Some(queue), JobState::Available);
            ready.sort_by_key(|&j| (-self.jobs[j].priority, self.jobs[j].run_at, j));
            for j in ready.into_iter().take(limit) {
                let run_at = self.jobs[j].run_at;
                self.apply(j, Event::Fetch, "", 0);
                let job = &mut self.jobs[j];
                job.lease = Some(self.leases.len());
                job.lease_expires_at = self.now + ttl_ms;
                self.leases.push(j);
                leased.push((j, run_at));
            }
        }
        Answer::Fetched(rescued, due.len(), leased)
    }

    /// The job lease `l` holds, if it still holds one (expiry does not matter until rescue).
    fn held(&self, l: usize) -> Option<usize> {
        let j = self.leases[l];
        let job = &self.jobs[j];
        (!job.pruned && job.facts.state == JobState::Running && job.lease == Some(l)).then_some(j)
    }

    /// Renews lease `l` for `ttl_ms`.
    pub fn renew(&mut self, l: usize, ttl_ms: i64) -> Answer {
        let now = self.now;
        let Some(j) = self
            .held(l)
            .filter(|&j| self.jobs[j].lease_expires_at > now)
        else {
            return Answer::Renewed(Renewal::Lost);
        };
        let job = &mut self.jobs[j];
        job.lease_expires_at = now + ttl_ms;
        Answer::Renewed(if job.facts.cancel_requested {
            Renewal::CancelRequested
        } else {
            Renewal::Held
        })
    }

    /// Ends lease `l`'s attempt with `ending` (`class` for errors, `delay_ms` for the next run).
    pub fn complete(&mut self, l: usize, ending: Ending, class: &str, delay_ms: i64) -> Answer {
        match self.held(l) {
            None => Answer::LeaseLost,
            Some(j) => self.apply(j, Event::Complete(ending), class, delay_ms),
        }
    }

    /// Gives lease `l` back.
    /// A lock operation on `key`, by the rules of `lock_step`.
    pub fn lock(&mut self, key: &str, event: LockEvent) -> Answer {
        let facts = self.locks.get(key).copied().unwrap_or_default();
        let step = lock_step(facts, self.now, event);
        self.locks.insert(key.to_owned(), step.facts);
        Answer::Lock(step.answer)
    }

    pub fn release(&mut self, l: usize) -> Answer {
        match self.held(l) {
            None => Answer::Count(0),
            Some(j) => {
                self.apply(j, Event::Release, "", 0);
                Answer::Count(1)
            }
        }
    }

    /// An operator's action on job `j`.
    pub fn admin(&mut self, j: usize, event: Event) -> Answer {
        if self.jobs[j].pruned {
            return Answer::NotFound;
        }
        self.apply(j, event, "", 0)
    }

    /// Deletes finished job `j` now, as retention would.
    pub fn delete(&mut self, j: usize) -> Answer {
        let job = &mut self.jobs[j];
        if job.pruned {
            Answer::NotFound
        } else if job.facts.state.is_unfinished() {
            Answer::InvalidState
        } else {
            job.pruned = true;
            Answer::State(job.facts.state)
        }
    }

    /// Retries now (or deletes) at most `limit` dead jobs of `queue`, newest first.
    pub fn bulk_dead(&mut self, queue: &str, delete: bool, limit: usize) -> Answer {
        let mut dead = self.live(Some(queue), JobState::Dead);
        dead.reverse();
        dead.truncate(limit);
        for &j in &dead {
            if delete {
                self.delete(j);
            } else {
                self.admin(j, Event::RetryNow);
            }
        }
        Answer::Count(dead.len())
    }

    /// What `activity(windows)` answers: for each queue with jobs or a pause flag, by name.
    pub fn activity(&self, windows_ms: &[i64]) -> Answer {
        let live = || self.jobs.iter().filter(|j| !j.pruned);
        let queues: BTreeSet<&str> = live()
            .map(|j| j.queue.as_str())
            .chain(self.paused.iter().map(String::as_str))
            .collect();
        let ended = |queue: &str, state: JobState, since: i64| {
            live()
                .filter(|j| j.queue == queue && j.facts.state == state)
                .filter(|j| j.finished_at.is_some_and(|f| f >= since))
                .count() as u64
        };
        Answer::Activity(
            queues
                .into_iter()
                .map(|queue| {
                    let oldest = live()
                        .filter(|j| j.queue == queue && j.facts.state == JobState::Available)
                        .map(|j| (self.now - j.run_at).max(0))
                        .max();
                    let windows = windows_ms
                        .iter()
                        .map(|w| {
                            let since = self.now - w;
                            (
                                ended(queue, JobState::Succeeded, since),
                                ended(queue, JobState::Dead, since),
                            )
                        })
                        .collect();
                    (queue.to_owned(), oldest, windows)
                })
                .collect(),
        )
    }

    /// Deletes finished jobs past `retention`.
    pub fn prune(&mut self, retention: Retention) -> usize {
        let now = self.now;
        let mut pruned = 0;
        for job in self.jobs.iter_mut().filter(|j| !j.pruned) {
            let keep = match job.facts.state {
                JobState::Succeeded => retention.succeeded,
                JobState::Dead | JobState::Cancelled => retention.dead,
                _ => continue,
            };
            let cutoff = now - keep.as_millis() as i64;
            if job.finished_at.is_some_and(|f| f < cutoff) {
                job.pruned = true;
                pruned += 1;
            }
        }
        pruned
    }
}
