//! The apalis source of one queue (what apalis calls a backend). apalis asks for a task only when
//! a concurrency slot is free; the source then leases as many jobs as there are free slots
//! (concurrency minus the slots its queue's leases take in the [`LeaseKeeper`]), never more, so
//! no job is leased that cannot start at once — another process can run it instead. It waits on
//! the queue's wake signal when idle and gives back whatever it had not started when apalis
//! closes it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use dezky_jobs::StopReason;
use dezky_queue::{DynQueue, FetchRequest, JobState, LeasedJob, QueueError, WakeSignal};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::ack::AckLayer;
use crate::batch::AckBatcher;
use crate::config::WorkerConfig;
use crate::gate::Gate;
use crate::lease_keeper::LeaseKeeper;
use crate::run_log::RunLog;

/// What a handler receives: the leased job and its stop signal.
#[derive(Debug, Clone)]
pub struct JobTask {
    /// The job as leased.
    pub job: LeasedJob,
    /// Becomes `Some(reason)` when the handler should stop.
    pub stop: watch::Receiver<Option<StopReason>>,
    /// Set by the attempt when it recorded its own success, in the transaction that wrote its
    /// store writes and children (the queue in the store's database): nothing is left to ack.
    pub committed: Arc<OnceLock<JobState>>,
}

/// Jobs leased by a fetch, each with its handler's stop signal.
type Leased = Vec<(LeasedJob, watch::Receiver<Option<StopReason>>)>;

/// A fetch in flight. The source polls it (a task of its own would cost a cross-thread hop per
/// fetch); at shutdown apalis stops polling the source, so the keeper takes it over and drives
/// it to the end: no lease is left unheld and no SQLite transaction half done.
pub type Fetching = BoxFuture<'static, Result<Leased, QueueError>>;

/// Where a source keeps its fetch in flight, shared with the keeper for shutdown.
pub type FetchSlot = Arc<Mutex<Option<Fetching>>>;

/// The apalis source of one queue.
pub struct QueueSource {
    queue: DynQueue,
    name: String,
    /// The worker's concurrency: the slots this source fills.
    concurrency: usize,
    config: WorkerConfig,
    keeper: LeaseKeeper,
    run_log: Option<Arc<dyn RunLog>>,
    /// The gate of the kind's dependency: nothing is fetched while it is closed.
    gate: Option<Gate>,
    signal: WakeSignal,
    buffer: VecDeque<Task<JobTask>>,
    fetching: FetchSlot,
    idle: Option<BoxFuture<'static, ()>>,
    closing: Option<BoxFuture<'static, Result<(), QueueError>>>,
}

impl std::fmt::Debug for QueueSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSource")
            .field("queue", &self.name)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

impl QueueSource {
    /// A source for `queue_name` filling `concurrency` slots, its leases kept by `keeper`.
    pub fn new(
        queue: DynQueue,
        queue_name: &str,
        concurrency: usize,
        config: WorkerConfig,
        keeper: LeaseKeeper,
        run_log: Option<Arc<dyn RunLog>>,
        gate: Option<Gate>,
    ) -> Self {
        let signal = queue.wake_signal(queue_name);
        let fetching = keeper.fetch_slot();
        Self {
            queue,
            name: queue_name.to_owned(),
            concurrency: concurrency.max(1),
            config,
            keeper,
            run_log,
            gate,
            signal,
            buffer: VecDeque::new(),
            fetching,
            idle: None,
            closing: None,
        }
    }

    /// How many jobs to lease now: one per free slot (apalis asks only when one is free), at
    /// most the configured batch.
    fn free_slots(&self) -> usize {
        self.concurrency
            .saturating_sub(self.keeper.slots_taken(&self.name))
            .clamp(1, self.config.batch.max(1))
    }

    fn start_fetch(&mut self, worker: &WorkerContext) -> Fetching {
        // Mark wake-ups seen *before* fetching: a push that lands during the fetch still wakes us.
        self.signal.mark_seen();
        let (queue, keeper) = (self.queue.clone(), self.keeper.clone());
        let req = FetchRequest {
            queue: self.name.clone(),
            worker: worker.name().to_owned(),
            limit: self.free_slots(),
            lease_ttl: self.config.lease_ttl,
        };
        let guard = keeper.fetch_started();
        Box::pin(async move {
            // The lease's life counts from when the fetch was sent.
            let sent_at = Instant::now();
            let fetched = queue.fetch(req).await?;
            let leased = fetched
                .jobs
                .into_iter()
                .map(|job| {
                    let stop = keeper.hold(job.lease.clone(), sent_at);
                    (job, stop)
                })
                .collect();
            drop(guard);
            Ok(leased)
        })
    }

    fn buffer_jobs(&mut self, leased: Leased) {
        for (job, stop) in leased {
            let task = TaskBuilder::new(JobTask {
                stop,
                job: job.clone(),
                committed: Arc::default(),
            })
            .task_id(TaskId::from_string(job.lease.id.as_str()))
            // apalis adds one when the attempt starts; the queue already counted it.
            .attempt(job.lease.attempt.saturating_sub(1) as usize)
            .build();
            self.buffer.push_back(task);
        }
    }
}

impl Backend for QueueSource {
    type Task = Task<JobTask>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, QueueError>>> {
        loop {
            if let Some(task) = self.buffer.pop_front() {
                self.keeper.start(&task.args.job.lease);
                return Poll::Ready(Some(Ok(task)));
            }
            if let Some(idle) = self.idle.as_mut() {
                futures::ready!(idle.poll_unpin(cx));
                self.idle = None;
            }
            let slot = self.fetching.clone();
            let mut fetching = slot.lock().unwrap_or_else(|p| p.into_inner());
            if fetching.is_none()
                && let Some(gate) = self.gate.as_ref().filter(|g| !g.is_open())
            {
                // The dependency is unreachable: lease nothing until the gate opens.
                let gate = gate.clone();
                self.idle = Some(async move { gate.opened().await }.boxed());
                continue;
            }
            let in_flight = match fetching.as_mut() {
                Some(in_flight) => in_flight,
                // Shutting down: lease nothing more; apalis closes the source next.
                None if self.keeper.closing() => return Poll::Pending,
                None => fetching.insert(self.start_fetch(worker)),
            };
            let fetched = futures::ready!(in_flight.poll_unpin(cx));
            *fetching = None;
            drop(fetching);
            match fetched {
                Ok(leased) if !leased.is_empty() => self.buffer_jobs(leased),
                Ok(_) => {
                    let mut signal = self.signal.clone();
                    let poll = self.config.poll_interval;
                    self.idle = Some(async move { signal.wait(poll).await }.boxed());
                }
                Err(e) => {
                    // A storage outage must not stop the worker: log, wait, try again.
                    tracing::warn!(queue = %self.name, error = %e, "fetch failed; retrying");
                    self.idle = Some(tokio::time::sleep(self.config.error_backoff).boxed());
                }
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), QueueError>> {
        // A fetch in flight the keeper did not take over may already have leased jobs: finish
        // it, and give its jobs back with the rest.
        let slot = self.fetching.clone();
        let mut fetching = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(in_flight) = fetching.as_mut() {
            let fetched = futures::ready!(in_flight.poll_unpin(cx));
            *fetching = None;
            if let Ok(leased) = fetched {
                self.buffer_jobs(leased);
            }
        }
        drop(fetching);
        if self.closing.is_none() {
            let unstarted: Vec<_> = self.buffer.drain(..).map(|t| t.args.job.lease).collect();
            let keeper = self.keeper.clone();
            self.closing = Some(async move { keeper.release(&unstarted).await.map(drop) }.boxed());
        }
        self.closing
            .as_mut()
            .map_or(Poll::Ready(Ok(())), |c| c.poll_unpin(cx))
    }
}

impl BackendConfig for QueueSource {
    type Args = JobTask;
    type Id = TaskId;
    type Kind = Ephemeral;
    type Config = WorkerConfig;
    type Layer = AckLayer;

    fn config(&self) -> &WorkerConfig {
        &self.config
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> AckLayer {
        AckLayer::new(
            AckBatcher::spawn(self.queue.clone(), self.keeper.clone()),
            self.keeper.clone(),
            self.run_log.clone(),
        )
    }
}
