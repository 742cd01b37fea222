//! The model-based test: random sequences of every queue operation — push, bulk push, fetch,
//! renew, complete with every outcome, complete many, cancel, retry now, discard, release, get,
//! pause and resume, clock advances, rescue and prune, and lock, renew, unlock and peek of fenced
//! locks (list and counts after every step) — run
//! against a backend and against the reference
//! [`Model`] under one manual clock, comparing every answer and, after each step, every job's
//! state, attempts, snoozes, errors, cancel flag, due time and finish time, and the counts.
//!
//! proptest generates the sequences (`PROPTEST_CASES` cases, 200 by default, of 50 steps) from a
//! printed seed (`DEZKY_TEST_MODEL_SEED` replays one); a failure is shrunk by proptest and then
//! by dropping steps one at a time, and reported as the short sequence that still fails.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use super::model::{Answer, Model, ModelJob, ModelPush, Renewal};
use super::{Factory, Harness, HarnessConfig, in_tx};
use crate::backoff::RetryPolicy;
use crate::clock::Clock;
use crate::error::QueueError;
use crate::lock::LockEvent;
use crate::machine::{Ending, Event};
use crate::model::{
    AttemptFailure, BulkAction, Dedup, FetchRequest, HeldLock, Job, JobFilter, JobId, JobState,
    Lease, NewJob, Outcome, Retention,
};

/// Steps per case.
const STEPS: usize = 50;
/// Lease length, in ms; clock advances go past it.
const TTL_MS: i64 = 30_000;
/// Retention in the test: short, so pruning happens within a case.
const RETENTION: Retention = Retention {
    succeeded: Duration::from_secs(60),
    dead: Duration::from_secs(120),
};
const QUEUES: [&str; 2] = ["a", "b"];

/// One job of a push, as generated.
#[derive(Debug, Clone)]
pub struct PushSpec {
    queue: usize,
    priority: i32,
    delay_s: i64,
    max_attempts: u32,
    dedup: Option<(u8, i64)>,
}

/// One step.
#[derive(Debug, Clone)]
pub enum Op {
    /// `push_bulk` of these (a plain push when one).
    Push(Vec<PushSpec>),
    /// `push_in` of these on a transaction that commits, as `Push`, or rolls back, as nothing
    /// (a backend that is no SQL database pushes, or does nothing).
    PushInTx { specs: Vec<PushSpec>, commit: bool },
    /// `fetch` from a queue.
    Fetch { queue: usize, limit: usize },
    /// `renew` a lease (any ever handed out, so stale ones too).
    Renew { lease: usize },
    /// `complete` a lease; `delay_s` is the retry's `retry_after` or the snooze.
    Complete {
        lease: usize,
        ending: Ending,
        delay_s: Option<i64>,
    },
    /// `complete_in` a lease on a transaction that commits, as `Complete`, or rolls back, as
    /// nothing but the answer.
    CompleteInTx {
        lease: usize,
        ending: Ending,
        delay_s: Option<i64>,
        commit: bool,
    },
    /// `complete_many` over several leases (repeats and stale ones included).
    CompleteMany(Vec<(usize, Ending)>),
    /// `release` a lease.
    Release { lease: usize },
    /// `get` a job.
    Get { job: usize },
    /// `cancel` a job.
    Cancel { job: usize },
    /// `retry_now` a job.
    RetryNow { job: usize },
    /// `discard` a job.
    Discard { job: usize },
    /// `delete` a job.
    Delete { job: usize },
    /// `bulk_dead` on a queue: retry now (or delete) at most `limit` dead jobs.
    BulkDead {
        queue: usize,
        delete: bool,
        limit: usize,
    },
    /// `activity` over the test's windows.
    Activity,
    /// `pause` a queue.
    Pause { queue: usize },
    /// `resume` a queue.
    Resume { queue: usize },
    /// Move the clock.
    Advance { secs: i64 },
    /// `rescue_expired` over every queue.
    Rescue,
    /// `prune` with the test's retention.
    Prune,
    /// `lock` a key for `ttl_s`.
    Lock { key: usize, ttl_s: i64 },
    /// `renew_lock` a lock (any ever handed out, so stale ones too).
    RenewLock { lock: usize, ttl_s: i64 },
    /// `unlock` a lock (any ever handed out).
    Unlock { lock: usize },
    /// `lock_held` on a key.
    LockHeld { key: usize },
}

/// The windows `activity` is asked about (the clock moves up to 130 s a step).
const ACTIVITY_WINDOWS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];

/// Lock keys.
const LOCK_KEYS: [&str; 2] = ["tenant:a", "user:b@c.eu"];

fn push_spec() -> impl Strategy<Value = PushSpec> {
    (
        0..QUEUES.len(),
        -1i32..=1,
        prop_oneof![3 => Just(0i64), 1 => 1i64..=40],
        1u32..=3,
        proptest::option::weighted(0.3, (0u8..2, prop_oneof![Just(0i64), Just(10), Just(300)])),
    )
        .prop_map(|(queue, priority, delay_s, max_attempts, dedup)| PushSpec {
            queue,
            priority,
            delay_s,
            max_attempts,
            dedup,
        })
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        4 => Just(Ending::Succeeded),
        4 => Just(Ending::Retry),
        2 => Just(Ending::Snooze),
        1 => Just(Ending::Blocked),
        1 => Just(Ending::Abort),
        2 => Just(Ending::Cancelled),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let index = 0usize..64;
    prop_oneof![
        6 => push_spec().prop_map(|p| Op::Push(vec![p])),
        1 => proptest::collection::vec(push_spec(), 2..4).prop_map(Op::Push),
        2 => (proptest::collection::vec(push_spec(), 1..3), any::<bool>())
            .prop_map(|(specs, commit)| Op::PushInTx { specs, commit }),
        5 => (0..QUEUES.len(), 1usize..=3).prop_map(|(queue, limit)| Op::Fetch { queue, limit }),
        2 => index.clone().prop_map(|lease| Op::Renew { lease }),
        6 => (index.clone(), ending(), proptest::option::of(0i64..=20))
            .prop_map(|(lease, ending, delay_s)| Op::Complete { lease, ending, delay_s }),
        2 => (index.clone(), ending(), proptest::option::of(0i64..=20), any::<bool>()).prop_map(
            |(lease, ending, delay_s, commit)| Op::CompleteInTx { lease, ending, delay_s, commit }
        ),
        2 => proptest::collection::vec((index.clone(), ending()), 1..5).prop_map(Op::CompleteMany),
        1 => index.clone().prop_map(|lease| Op::Release { lease }),
        1 => index.clone().prop_map(|job| Op::Get { job }),
        2 => index.clone().prop_map(|job| Op::Cancel { job }),
        1 => index.clone().prop_map(|job| Op::RetryNow { job }),
        1 => index.clone().prop_map(|job| Op::Discard { job }),
        1 => index.prop_map(|job| Op::Delete { job }),
        1 => (0..QUEUES.len(), any::<bool>(), 1usize..=3)
            .prop_map(|(queue, delete, limit)| Op::BulkDead { queue, delete, limit }),
        1 => Just(Op::Activity),
        1 => (0..QUEUES.len()).prop_map(|queue| Op::Pause { queue }),
        1 => (0..QUEUES.len()).prop_map(|queue| Op::Resume { queue }),
        3 => prop_oneof![0i64..=5, 20i64..=40, 50i64..=130].prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Rescue),
        1 => Just(Op::Prune),
        2 => (0..LOCK_KEYS.len(), 10i64..=60).prop_map(|(key, ttl_s)| Op::Lock { key, ttl_s }),
        1 => (0usize..16, 10i64..=60).prop_map(|(lock, ttl_s)| Op::RenewLock { lock, ttl_s }),
        1 => (0usize..16).prop_map(|lock| Op::Unlock { lock }),
        1 => (0..LOCK_KEYS.len()).prop_map(|key| Op::LockHeld { key }),
    ]
}

/// The backend side of a run: the harness and the numbering of its ids and leases.
struct Run {
    h: Harness,
    model: Model,
    ids: Vec<JobId>,
    by_id: HashMap<JobId, usize>,
    leases: Vec<Lease>,
    /// Every lock the backend handed out, in order.
    locks: Vec<HeldLock>,
}

fn answer_of_error(e: &QueueError) -> Result<Answer, String> {
    match e {
        QueueError::LeaseLost(_) => Ok(Answer::LeaseLost),
        QueueError::NotFound(_) => Ok(Answer::NotFound),
        QueueError::InvalidState { .. } => Ok(Answer::InvalidState),
        QueueError::Invalid(_) => Ok(Answer::Invalid),
        QueueError::Storage(s) => Err(format!("storage error: {s}")),
    }
}

impl Run {
    fn now(&self) -> i64 {
        self.h.clock.now_ms()
    }

    /// Pushes `specs` to both: directly (`tx` is `None`), or on a transaction that commits or
    /// rolls back (`Some(commit)`; a backend that is no SQL database pushes directly when it
    /// would commit, and does nothing — `None` — when it would roll back).
    async fn push(
        &mut self,
        specs: &[PushSpec],
        tx: Option<bool>,
    ) -> Result<Option<(Answer, Answer)>, String> {
        let pushes: Vec<ModelPush> = specs
            .iter()
            .map(|s| ModelPush {
                queue: QUEUES[s.queue].into(),
                priority: s.priority,
                delay_ms: s.delay_s * 1000,
                max_attempts: s.max_attempts,
                dedup: s.dedup.map(|(k, w)| (format!("key-{k}"), w * 1000)),
            })
            .collect();
        let now = self.now();
        let jobs: Vec<NewJob> = pushes
            .iter()
            .map(|p| {
                let mut job = NewJob::new("model", serde_json::json!({}));
                job.queue = Some(p.queue.clone());
                job.priority = p.priority;
                job.run_at = (p.delay_ms > 0).then_some(now + p.delay_ms);
                job.max_attempts = p.max_attempts;
                job.dedup = p.dedup.as_ref().map(|(key, window)| Dedup {
                    key: key.clone(),
                    window: Duration::from_millis(*window as u64),
                    fingerprint: None,
                });
                job
            })
            .collect();
        let q = self.h.queue.clone();
        let in_db = tx.and_then(|commit| q.in_database().map(|db| (db, commit)));
        let kept = match (tx, &in_db) {
            (Some(false), None) => return Ok(None),
            (Some(commit), Some(_)) => commit,
            _ => true,
        };
        let expected = if kept {
            self.model.push(&pushes)
        } else {
            self.model.clone().push(&pushes)
        };
        let pushed = match in_db {
            None => q.push_bulk(jobs).await,
            Some((db, commit)) => {
                let mut tx = in_tx::begin(&db).await;
                let pushed = db.push_in(tx.db(), &jobs).await;
                in_tx::end(tx, commit).await;
                if let (Ok((_, queues)), true) = (&pushed, commit) {
                    db.woken(queues);
                }
                pushed.map(|(p, _)| p)
            }
        };
        let got = match pushed {
            Err(e) => answer_of_error(&e)?,
            Ok(pushed) => {
                let mut out = Vec::new();
                let mut gone: HashMap<JobId, usize> = HashMap::new();
                for p in pushed {
                    let n = match self.by_id.get(&p.id) {
                        Some(&n) => n,
                        // Rolled back: numbered as the model numbers it, and forgotten.
                        None if !kept => {
                            let next = self.ids.len() + gone.len();
                            *gone.entry(p.id).or_insert(next)
                        }
                        None => {
                            let n = self.ids.len();
                            self.ids.push(p.id.clone());
                            self.by_id.insert(p.id, n);
                            n
                        }
                    };
                    out.push((n, p.duplicate));
                }
                Answer::Pushed(out)
            }
        };
        Ok(Some((expected, got)))
    }

    /// Applies `op` to both; answers (model, backend), or `None` when the op names nothing yet.
    async fn step(&mut self, op: &Op) -> Result<Option<(Answer, Answer)>, String> {
        let q = self.h.queue.clone();
        let pick = |n: usize, len: usize| (len > 0).then(|| n % len);
        Ok(Some(match op {
            Op::Push(specs) => match self.push(specs, None).await? {
                Some(answers) => answers,
                None => return Ok(None),
            },
            Op::PushInTx { specs, commit } => match self.push(specs, Some(*commit)).await? {
                Some(answers) => answers,
                None => return Ok(None),
            },
            Op::Fetch { queue, limit } => {
                let expected = self.model.fetch(QUEUES[*queue], *limit, TTL_MS);
                let got = match q
                    .fetch(FetchRequest {
                        queue: QUEUES[*queue].into(),
                        worker: "model".into(),
                        limit: *limit,
                        lease_ttl: Duration::from_millis(TTL_MS as u64),
                    })
                    .await
                {
                    Err(e) => answer_of_error(&e)?,
                    Ok(f) => {
                        let mut jobs = Vec::new();
                        for j in f.jobs {
                            let n = self.by_id.get(&j.lease.id).copied().unwrap_or(usize::MAX);
                            jobs.push((n, j.run_at));
                            self.leases.push(j.lease);
                        }
                        Answer::Fetched(f.rescued, f.promoted, jobs)
                    }
                };
                (expected, got)
            }
            Op::Renew { lease } => {
                let Some(l) = pick(*lease, self.leases.len()) else {
                    return Ok(None);
                };
                let expected = self.model.renew(l, TTL_MS);
                let got = match q
                    .renew(
                        std::slice::from_ref(&self.leases[l]),
                        Duration::from_millis(TTL_MS as u64),
                    )
                    .await
                {
                    Err(e) => answer_of_error(&e)?,
                    Ok(r) if !r.lost.is_empty() => Answer::Renewed(Renewal::Lost),
                    Ok(r) if !r.cancel_requested.is_empty() => {
                        Answer::Renewed(Renewal::CancelRequested)
                    }
                    Ok(_) => Answer::Renewed(Renewal::Held),
                };
                (expected, got)
            }
            Op::Complete {
                lease,
                ending,
                delay_s,
            } => {
                let Some(l) = pick(*lease, self.leases.len()) else {
                    return Ok(None);
                };
                let (outcome, class, delay_ms) = outcome_of(*ending, *delay_s, l);
                let expected = self.model.complete(l, *ending, class, delay_ms);
                let got = match q.complete(&self.leases[l], outcome).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(state) => Answer::State(state),
                };
                (expected, got)
            }
            Op::CompleteInTx {
                lease,
                ending,
                delay_s,
                commit,
            } => {
                let Some(l) = pick(*lease, self.leases.len()) else {
                    return Ok(None);
                };
                let (outcome, class, delay_ms) = outcome_of(*ending, *delay_s, l);
                let Some(db) = q.in_database() else {
                    if !*commit {
                        return Ok(None);
                    }
                    let expected = self.model.complete(l, *ending, class, delay_ms);
                    let got = match q.complete(&self.leases[l], outcome).await {
                        Err(e) => answer_of_error(&e)?,
                        Ok(state) => Answer::State(state),
                    };
                    return Ok(Some((expected, got)));
                };
                let expected = if *commit {
                    self.model.complete(l, *ending, class, delay_ms)
                } else {
                    self.model.clone().complete(l, *ending, class, delay_ms)
                };
                let mut tx = in_tx::begin(&db).await;
                let done = db.complete_in(tx.db(), &self.leases[l], &outcome).await;
                in_tx::end(tx, *commit).await;
                let got = match done {
                    Err(e) => answer_of_error(&e)?,
                    Ok(state) => Answer::State(state),
                };
                (expected, got)
            }
            Op::CompleteMany(items) => {
                if self.leases.is_empty() {
                    return Ok(None);
                }
                let mut expected = Vec::new();
                let mut batch = Vec::new();
                for (lease, ending) in items {
                    let l = lease % self.leases.len();
                    let (outcome, class, delay_ms) = outcome_of(*ending, None, l);
                    expected.push(self.model.complete(l, *ending, class, delay_ms));
                    batch.push((self.leases[l].clone(), outcome));
                }
                let got = match q.complete_many(&batch).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(answers) => Answer::Many(
                        answers
                            .iter()
                            .map(|a| match a {
                                Ok(state) => Ok(Answer::State(*state)),
                                Err(e) => answer_of_error(e),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                };
                (Answer::Many(expected), got)
            }
            Op::Get { job } => {
                let Some(j) = pick(*job, self.ids.len()) else {
                    return Ok(None);
                };
                let got = q.get(&self.ids[j]).await.map_err(|e| format!("get: {e}"))?;
                let m = &self.model.jobs[j];
                match got {
                    None if m.pruned => {}
                    None => return Err(format!("get: job #{j} is missing")),
                    Some(job) if m.pruned => {
                        return Err(format!(
                            "get: job #{j} should be pruned, backend has {job:?}"
                        ));
                    }
                    Some(job) => {
                        if let Some(diff) = differs(j, m, &job) {
                            return Err(format!("get: {diff}"));
                        }
                    }
                }
                (Answer::Done, Answer::Done)
            }
            Op::Release { lease } => {
                let Some(l) = pick(*lease, self.leases.len()) else {
                    return Ok(None);
                };
                let expected = self.model.release(l);
                let got = match q.release(std::slice::from_ref(&self.leases[l])).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(n) => Answer::Count(n),
                };
                (expected, got)
            }
            Op::Cancel { job } | Op::RetryNow { job } | Op::Discard { job } => {
                let Some(j) = pick(*job, self.ids.len()) else {
                    return Ok(None);
                };
                let id = &self.ids[j];
                let (event, result) = match op {
                    Op::Cancel { .. } => (Event::Cancel, q.cancel(id).await),
                    Op::RetryNow { .. } => (Event::RetryNow, q.retry_now(id).await),
                    _ => (Event::Discard, q.discard(id, "model").await),
                };
                let expected = self.model.admin(j, event);
                let got = match result {
                    Err(e) => answer_of_error(&e)?,
                    Ok(job) => Answer::State(job.state),
                };
                (expected, got)
            }
            Op::Delete { job } => {
                let Some(j) = pick(*job, self.ids.len()) else {
                    return Ok(None);
                };
                let expected = self.model.delete(j);
                let got = match q.delete(&self.ids[j]).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(job) => Answer::State(job.state),
                };
                (expected, got)
            }
            Op::BulkDead {
                queue,
                delete,
                limit,
            } => {
                let name = QUEUES[*queue];
                let expected = self.model.bulk_dead(name, *delete, *limit);
                let action = if *delete {
                    BulkAction::Delete
                } else {
                    BulkAction::Retry
                };
                let filter = JobFilter {
                    queue: Some(name.into()),
                    ..JobFilter::default()
                };
                let got = match q.bulk_dead(action, filter, *limit).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(done) => Answer::Count(done.touched),
                };
                (expected, got)
            }
            Op::Activity => {
                let expected = self
                    .model
                    .activity(&ACTIVITY_WINDOWS.map(|w| w.as_millis() as i64));
                let got = match q.activity(&ACTIVITY_WINDOWS).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(queues) => Answer::Activity(
                        queues
                            .into_iter()
                            .map(|a| {
                                (
                                    a.queue,
                                    a.oldest_available_age.map(|d| d.as_millis() as i64),
                                    a.finished.iter().map(|f| (f.succeeded, f.dead)).collect(),
                                )
                            })
                            .collect(),
                    ),
                };
                (expected, got)
            }
            Op::Pause { queue } | Op::Resume { queue } => {
                let name = QUEUES[*queue];
                let result = if matches!(op, Op::Pause { .. }) {
                    self.model.paused.insert(name.into());
                    q.pause(name).await
                } else {
                    self.model.paused.remove(name);
                    q.resume(name).await
                };
                let got = match result {
                    Err(e) => answer_of_error(&e)?,
                    Ok(()) => Answer::Done,
                };
                (Answer::Done, got)
            }
            Op::Advance { secs } => {
                self.h.clock.advance(Duration::from_secs(*secs as u64));
                self.model.now = self.now();
                (Answer::Done, Answer::Done)
            }
            Op::Rescue => {
                let expected = Answer::Count(self.model.rescue(None));
                let got = match q.rescue_expired(1000).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(n) => Answer::Count(n),
                };
                (expected, got)
            }
            Op::Prune => {
                let expected = Answer::Count(self.model.prune(RETENTION));
                let got = match q.prune(RETENTION, 1000).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(n) => Answer::Count(n),
                };
                (expected, got)
            }
            Op::Lock { key, ttl_s } => {
                let ttl_ms = ttl_s * 1000;
                let expected = self.model.lock(LOCK_KEYS[*key], LockEvent::Take { ttl_ms });
                let got = match q.lock(LOCK_KEYS[*key], ms(ttl_ms)).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(None) => Answer::Lock(0),
                    Ok(Some(held)) => {
                        let token = held.token;
                        self.locks.push(held);
                        Answer::Lock(token)
                    }
                };
                (expected, got)
            }
            Op::RenewLock { lock, ttl_s } => {
                let Some(l) = pick(*lock, self.locks.len()) else {
                    return Ok(None);
                };
                let held = &self.locks[l];
                let ttl_ms = ttl_s * 1000;
                let event = LockEvent::Renew {
                    token: held.token,
                    ttl_ms,
                };
                let expected = self.model.lock(&held.key, event);
                let got = match q.renew_lock(held, ms(ttl_ms)).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(held) => Answer::Lock(i64::from(held)),
                };
                (expected, got)
            }
            Op::Unlock { lock } => {
                let Some(l) = pick(*lock, self.locks.len()) else {
                    return Ok(None);
                };
                let held = &self.locks[l];
                let event = LockEvent::Release { token: held.token };
                let expected = self.model.lock(&held.key, event);
                let got = match q.unlock(held).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(held) => Answer::Lock(i64::from(held)),
                };
                (expected, got)
            }
            Op::LockHeld { key } => {
                let expected = self.model.lock(LOCK_KEYS[*key], LockEvent::Peek);
                let got = match q.lock_held(LOCK_KEYS[*key]).await {
                    Err(e) => answer_of_error(&e)?,
                    Ok(held) => Answer::Lock(i64::from(held)),
                };
                (expected, got)
            }
        }))
    }

    /// Compares every job and the counts of every queue.
    async fn compare_jobs(&self) -> Result<(), String> {
        let page = self
            .h
            .queue
            .list(JobFilter {
                limit: 500,
                ..JobFilter::default()
            })
            .await
            .map_err(|e| format!("list: {e}"))?;
        let mut seen = vec![false; self.model.jobs.len()];
        for job in &page.jobs {
            let n = *self
                .by_id
                .get(&job.id)
                .ok_or_else(|| format!("the backend lists an unknown job {}", job.id))?;
            seen[n] = true;
            let m = &self.model.jobs[n];
            if m.pruned {
                return Err(format!("job #{n} should be pruned, backend has {job:?}"));
            }
            if let Some(diff) = differs(n, m, job) {
                return Err(diff);
            }
        }
        if let Some(n) = (0..seen.len()).find(|&n| !seen[n] && !self.model.jobs[n].pruned) {
            return Err(format!("job #{n} is missing from the backend"));
        }
        let counts = self
            .h
            .queue
            .counts()
            .await
            .map_err(|e| format!("counts: {e}"))?;
        for queue in QUEUES {
            let got = counts.iter().find(|c| c.queue == queue);
            for state in JobState::ALL {
                let want = self
                    .model
                    .jobs
                    .iter()
                    .filter(|j| !j.pruned && j.queue == queue && j.facts.state == state)
                    .count() as u64;
                let have = got.map_or(0, |c| c.get(state));
                if want != have {
                    return Err(format!(
                        "counts of {queue}/{state}: model {want}, backend {have}"
                    ));
                }
            }
            let paused = self.model.paused.contains(queue);
            if got.is_some_and(|c| c.paused) != paused {
                return Err(format!("pause flag of {queue}: model {paused}"));
            }
        }
        Ok(())
    }
}

/// The outcome `ending` stands for (`delay_s`: a retry's `retry_after`, a snooze's delay), the
/// class its error records, and the delay the model must apply.
fn outcome_of(ending: Ending, delay_s: Option<i64>, l: usize) -> (Outcome, &'static str, i64) {
    let delay = Duration::from_secs(delay_s.unwrap_or(0) as u64);
    let delay_ms = delay.as_millis() as i64;
    match ending {
        Ending::Succeeded => (Outcome::Succeeded(serde_json::json!(l)), "", 0),
        Ending::Retry => (
            Outcome::Retry {
                error: AttemptFailure::new("transient", "model"),
                retry_after: delay_s.map(|_| delay),
            },
            "transient",
            delay_ms,
        ),
        Ending::Snooze => (Outcome::Snooze(delay), "", delay_ms),
        Ending::Blocked => (
            Outcome::Blocked {
                delay,
                reason: AttemptFailure::new("gate_closed", "model"),
            },
            "gate_closed",
            delay_ms,
        ),
        Ending::Abort => (
            Outcome::Abort(AttemptFailure::new("permanent", "model")),
            "permanent",
            0,
        ),
        Ending::Cancelled => (Outcome::Cancelled, "", 0),
    }
}

/// How job #`n` differs between the model and the backend, if it does.
fn differs(n: usize, m: &ModelJob, job: &Job) -> Option<String> {
    let errors: Vec<(i64, u32, String)> = job
        .errors
        .iter()
        .map(|e| (e.at, e.attempt, e.class.clone()))
        .collect();
    let due = matches!(m.facts.state, JobState::Scheduled | JobState::Available);
    let model_view = (
        m.facts.state,
        m.facts.attempt,
        m.facts.max_attempts,
        m.facts.cancel_requested,
        m.snoozes,
        &m.errors,
        due.then_some(m.run_at),
        m.finished_at,
    );
    let backend_view = (
        job.state,
        job.attempt,
        job.max_attempts,
        job.cancel_requested,
        job.snoozes,
        &errors,
        due.then_some(job.run_at),
        job.finished_at,
    );
    (model_view != backend_view).then(|| {
        format!(
            "job #{n} differs:\n  model   (state, attempt, max, cancel, snoozes, errors, run_at, finished_at) = {model_view:?}\n  backend (state, attempt, max, cancel, snoozes, errors, run_at, finished_at) = {backend_view:?}"
        )
    })
}

/// Runs `ops` on a fresh backend and the model; answers the first difference.
async fn run_case(factory: &Factory, ops: &[Op]) -> Result<(), String> {
    let h = factory(HarnessConfig {
        // No jitter: the model must know when a retry is due.
        retry: RetryPolicy {
            base: Duration::ZERO,
            cap: Duration::ZERO,
        },
        promote_limit: 1000,
    })
    .await;
    let model = Model::new(h.clock.now_ms());
    let mut run = Run {
        h,
        model,
        ids: Vec::new(),
        by_id: HashMap::new(),
        leases: Vec::new(),
        locks: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        if let Some((expected, got)) = run.step(op).await?
            && expected != got
        {
            return Err(format!(
                "step {i} {op:?}: model answered {expected:?}, backend {got:?}"
            ));
        }
        run.compare_jobs()
            .await
            .map_err(|e| format!("after step {i} {op:?}: {e}"))?;
    }
    Ok(())
}

/// The model-based test of one backend. Panics with the shortest failing sequence found.
pub fn check_backend_against_model(factory: &Factory) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let seed = std::env::var("DEZKY_TEST_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    eprintln!(
        "model-based test: seed {seed} ({cases} cases of {STEPS} steps; DEZKY_TEST_MODEL_SEED={seed} replays it)"
    );
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let ops = proptest::collection::vec(op(), STEPS);
    let result = runner.run(&ops, |ops| {
        runtime
            .block_on(run_case(factory, &ops))
            .map_err(TestCaseError::fail)
    });
    let Err(failure) = result else {
        return;
    };
    let proptest::test_runner::TestError::Fail(_, mut ops) = failure else {
        panic!("model-based test (seed {seed}): {failure}");
    };
    // proptest keeps the length; drop steps one at a time while the failure stays.
    let mut i = ops.len();
    while i > 0 {
        i -= 1;
        let mut shorter = ops.clone();
        shorter.remove(i);
        if runtime.block_on(run_case(factory, &shorter)).is_err() {
            ops = shorter;
        }
    }
    let reason = runtime
        .block_on(run_case(factory, &ops))
        .expect_err("the shrunk sequence still fails");
    panic!(
        "model-based test failed (seed {seed}) with {} steps:\n{}\n{reason}",
        ops.len(),
        ops.iter()
            .enumerate()
            .map(|(i, op)| format!("  {i}: {op:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Expands to a `#[test]` running [`check_backend_against_model`] with `$factory`.
#[macro_export]
macro_rules! queue_model_test {
    ($factory:path) => {
        #[test]
        fn backend_follows_the_model() {
            let factory = |c: $crate::contract::HarnessConfig| -> $crate::contract::BoxFuture<'static, $crate::contract::Harness> {
                Box::pin($factory(c))
            };
            $crate::contract::model_test::check_backend_against_model(&factory);
        }
    };
}

/// Whole milliseconds as a duration (the model's times are whole milliseconds, never negative).
fn ms(n: i64) -> Duration {
    Duration::from_millis(n.max(0) as u64)
}
