//! Cron schedules across replicas: each pass, every replica reads each schedule's newest tick
//! from the store, decides with [`due`](crate::tick::due), and — for a tick to run — pushes its
//! job under the dedup key `schedule:<name>:<tick>` with a window longer than the schedule's
//! period, so any number of replicas enqueue each tick once, even one that pushes after the
//! tick's job finished. A tick whose schedule's previous job is unfinished is recorded
//! `skipped` (a slow job never stacks up). Boot jobs (seeding) are pushed once per start under
//! their own key, so replicas starting together enqueue one. The store holds each schedule's
//! expression, kind, arguments, newest and next tick, newest job and outcome: the policy holds
//! across restarts, and the API answers (and runs a schedule now) without the configuration.

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::{Clock, Dedup, DynQueue, JobId, NewJob, QueueError};
use dezky_store::{ScheduleRow, Store, StoreError};
use serde_json::Value;

use crate::cron::CronExpr;
use crate::tick::{Due, MissedTicks, due};

/// One schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its name (`seed`, `reconcile`): the API's and the dedup keys'.
    pub name: String,
    /// The kind its ticks enqueue.
    pub kind: String,
    /// Their arguments.
    pub args: Value,
    /// When it ticks.
    pub expr: CronExpr,
}

/// A job pushed when a scheduler starts, once across replicas starting together.
#[derive(Debug, Clone)]
pub struct BootJob {
    /// Its dedup key (`boot:seed`).
    pub key: String,
    /// Its kind.
    pub kind: String,
    /// Its arguments.
    pub args: Value,
    /// How long the key holds after the push (replicas starting within it enqueue one).
    pub window: Duration,
    /// The schedule it stands for (seeding on boot is the `seed` schedule's job), recorded as
    /// that schedule's newest job: its ticks are skipped while the boot job is unfinished.
    pub schedule: Option<String>,
}

/// What the schedulers run (by default: nothing, passing every second).
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// The schedules.
    pub schedules: Vec<Schedule>,
    /// The jobs of a start.
    pub boot: Vec<BootJob>,
    /// What to do with ticks no scheduler ran for.
    pub missed: MissedTicks,
    /// Time between passes; a tick runs within about this much of its time.
    pub poll: Duration,
    /// Schedules turned `off`: forgotten from the store at start.
    pub off: Vec<String>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            schedules: Vec::new(),
            boot: Vec::new(),
            missed: MissedTicks::default(),
            poll: Duration::from_secs(1),
            off: Vec::new(),
        }
    }
}

/// A failure of a pass: the queue or the store did not answer. The next pass tries again.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No schedule has that name.
    #[error("no schedule `{0}`")]
    Unknown(String),
}

/// What a pass did with one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// The schedule was new: its newest tick was taken as the start.
    Baseline,
    /// Tick `tick` enqueued (or found enqueued by another replica) job `job`.
    Enqueued {
        /// The tick.
        tick: i64,
        /// The job.
        job: String,
    },
    /// Tick `tick` was skipped: the schedule's previous job is unfinished.
    Skipped {
        /// The tick.
        tick: i64,
    },
    /// Tick `tick` was missed and is not run ([`MissedTicks::Skip`]).
    Missed {
        /// The tick.
        tick: i64,
    },
}

/// The schedulers' work in one process.
#[derive(Debug, Clone)]
pub struct Scheduler {
    queue: DynQueue,
    store: Store,
    clock: Arc<dyn Clock>,
    config: ScheduleConfig,
    /// When this scheduler's first whole pass began: a tick after it was never missed.
    alive_since: Arc<std::sync::Mutex<Option<i64>>>,
}

impl Scheduler {
    /// A scheduler of `config` over `queue` and `store`, reading the time from `clock`.
    pub fn new(
        queue: DynQueue,
        store: Store,
        clock: Arc<dyn Clock>,
        config: ScheduleConfig,
    ) -> Self {
        Self {
            queue,
            store,
            clock,
            config,
            alive_since: Arc::default(),
        }
    }

    /// A tick is on time within this long of it: two passes and a second.
    fn grace_ms(&self) -> i64 {
        dezky_queue::clock::duration_ms(self.config.poll * 2 + Duration::from_secs(1))
    }

    /// Stores each schedule's configuration and next tick.
    pub async fn register(&self) -> Result<(), ScheduleError> {
        let now = self.clock.now_ms();
        for name in &self.config.off {
            if self.store.delete_schedule(name).await? {
                tracing::info!(schedule = %name, "schedule turned off: forgotten");
            }
        }
        for s in &self.config.schedules {
            self.put(s, now).await?;
        }
        Ok(())
    }

    /// Stores `s`'s configuration and its next tick after `now`.
    async fn put(&self, s: &Schedule, now: i64) -> Result<ScheduleRow, ScheduleError> {
        let next = s.expr.next_after(now);
        Ok(self
            .store
            .put_schedule(&s.name, &s.kind, &s.args, s.expr.as_str(), next, now)
            .await?)
    }

    /// Pushes the boot jobs (each once across replicas starting within its window), each
    /// recorded as its schedule's newest job (register first); answers their ids.
    pub async fn boot(&self) -> Result<Vec<String>, ScheduleError> {
        let mut ids = Vec::new();
        for b in &self.config.boot {
            let mut job = NewJob::new(&b.kind, b.args.clone());
            job.enqueued_by = Some("scheduler:boot".into());
            job.dedup = Some(Dedup {
                key: b.key.clone(),
                window: b.window,
                fingerprint: None,
            });
            let pushed = self.queue.push(job).await?;
            if !pushed.duplicate {
                tracing::info!(job = %pushed.id.0, kind = %b.kind, "boot job enqueued");
            }
            if let Some(schedule) = &b.schedule {
                let now = self.clock.now_ms();
                self.store
                    .record_run_now(schedule, &pushed.id.0, now)
                    .await?;
            }
            ids.push(pushed.id.0);
        }
        Ok(ids)
    }

    /// One pass over every schedule. A schedule that fails is logged and the others still
    /// pass; the first failure is answered after.
    pub async fn pass(&self) -> Result<Vec<Outcome>, ScheduleError> {
        let began = self.clock.now_ms();
        let alive_since = *self.alive_since.lock().unwrap_or_else(|p| p.into_inner());
        let mut outcomes = Vec::with_capacity(self.config.schedules.len());
        let mut first_error = None;
        for s in &self.config.schedules {
            match self.pass_one(s, alive_since).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tracing::warn!(schedule = %s.name, error = %e, "schedule pass failed; the next pass tries again");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                self.alive_since
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(began);
                Ok(outcomes)
            }
        }
    }

    async fn pass_one(
        &self,
        s: &Schedule,
        alive_since: Option<i64>,
    ) -> Result<Outcome, ScheduleError> {
        let now = self.clock.now_ms();
        let row = match self.store.schedule(&s.name).await? {
            Some(row) => row,
            None => self.put(s, now).await?,
        };
        let decision = due(
            &s.expr,
            row.last_tick,
            now,
            alive_since,
            self.grace_ms(),
            self.config.missed,
        );
        let next_of = |tick: i64| s.expr.next_after(tick);
        match decision {
            Due::Nothing => Ok(Outcome::Idle),
            Due::Baseline { tick } => {
                self.store
                    .record_tick(&s.name, tick, next_of(tick), None, "baseline", now)
                    .await?;
                Ok(Outcome::Baseline)
            }
            Due::Missed { tick } => {
                if self
                    .store
                    .record_tick(&s.name, tick, next_of(tick), None, "missed", now)
                    .await?
                {
                    crate::metrics::tick(&s.name, "missed", None);
                    tracing::warn!(schedule = %s.name, tick, "tick missed (no scheduler ran then); skipped by DEZKY_MISSED_TICKS=skip");
                }
                Ok(Outcome::Missed { tick })
            }
            Due::Run { tick, late } => {
                if self.unfinished(&row).await? {
                    if self
                        .store
                        .record_tick(&s.name, tick, next_of(tick), None, "skipped", now)
                        .await?
                    {
                        crate::metrics::tick(&s.name, "skipped", None);
                        tracing::info!(schedule = %s.name, tick, job = ?row.last_job, "tick skipped: the previous job is unfinished");
                    }
                    return Ok(Outcome::Skipped { tick });
                }
                let job = push_tick(&self.queue, s, tick).await?;
                if self
                    .store
                    .record_tick(&s.name, tick, next_of(tick), Some(&job), "enqueued", now)
                    .await?
                {
                    crate::metrics::tick(&s.name, "enqueued", Some(now - tick));
                    tracing::info!(schedule = %s.name, tick, late, job = %job, "tick enqueued");
                }
                Ok(Outcome::Enqueued { tick, job })
            }
        }
    }

    /// Whether the schedule's newest job can still run.
    async fn unfinished(&self, row: &ScheduleRow) -> Result<bool, ScheduleError> {
        let Some(id) = &row.last_job else {
            return Ok(false);
        };
        let job = self.queue.get(&JobId(id.clone())).await?;
        Ok(job.is_some_and(|j| j.state.is_unfinished()))
    }

    /// Registers the schedules and pushes the boot jobs (trying again each poll until the
    /// queue and the store answer), then passes every `poll` until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let active: Vec<String> = self
            .config
            .schedules
            .iter()
            .map(|s| format!("{} `{}`", s.name, s.expr))
            .collect();
        let boot: Vec<&str> = self.config.boot.iter().map(|b| b.key.as_str()).collect();
        tracing::info!(schedules = ?active, off = ?self.config.off, boot = ?boot, "scheduler starting");
        let work = async {
            let mut tick = tokio::time::interval(self.config.poll.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut started = false;
            loop {
                tick.tick().await;
                if !started {
                    let start = async {
                        self.register().await?;
                        self.boot().await
                    };
                    match start.await {
                        Ok(_) => started = true,
                        Err(e) => {
                            tracing::warn!(error = %e, "scheduler start failed; trying again");
                            continue;
                        }
                    }
                }
                // Failures are logged per schedule; the next pass tries again.
                let _ = self.pass().await;
            }
        };
        tokio::select! {
            () = work => {}
            () = shutdown => {}
        }
    }
}

/// Pushes tick `tick` of `s`: its job, due at the tick, under `schedule:<name>:<tick>` for twice
/// the schedule's period (at least a minute). Answers the job's id — the existing one when
/// another replica pushed the tick first.
pub async fn push_tick(queue: &DynQueue, s: &Schedule, tick: i64) -> Result<String, ScheduleError> {
    let period_ms = s.expr.next_after(tick).map_or(0, |next| next - tick);
    let window = Duration::from_millis(u64::try_from(period_ms).unwrap_or(0) * 2)
        .max(Duration::from_secs(60));
    let mut job = NewJob::new(&s.kind, s.args.clone());
    job.run_at = Some(tick);
    job.enqueued_by = Some(format!("scheduler:{}", s.name));
    job.dedup = Some(Dedup {
        key: format!("schedule:{}:{tick}", s.name),
        window,
        fingerprint: None,
    });
    Ok(queue.push(job).await?.id.0)
}

/// Runs schedule `name` now, from its stored configuration — unless the schedule's newest job
/// (a tick's or an earlier run-now's) is unfinished: then that job is answered, as a tick would
/// be skipped. The job goes under `schedule:<name>:now`, which holds while it is unfinished, so
/// pressing twice at once enqueues once. Answers the job's id and whether it was already there.
pub async fn run_now(
    queue: &DynQueue,
    store: &Store,
    clock: &dyn Clock,
    name: &str,
) -> Result<(String, bool), ScheduleError> {
    let row = store
        .schedule(name)
        .await?
        .ok_or_else(|| ScheduleError::Unknown(name.to_owned()))?;
    if let Some(id) = &row.last_job
        && queue
            .get(&JobId(id.clone()))
            .await?
            .is_some_and(|j| j.state.is_unfinished())
    {
        return Ok((id.clone(), true));
    }
    let mut job = NewJob::new(&row.kind, row.args.0.clone());
    job.enqueued_by = Some(format!("scheduler:{name}"));
    job.dedup = Some(Dedup {
        key: format!("schedule:{name}:now"),
        window: Duration::ZERO,
        fingerprint: None,
    });
    let pushed = queue.push(job).await?;
    // Recorded even for a duplicate: the push that made it may have failed to record it.
    store
        .record_run_now(name, &pushed.id.0, clock.now_ms())
        .await?;
    Ok((pushed.id.0, pushed.duplicate))
}
