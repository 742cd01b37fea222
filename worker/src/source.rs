//! The apalis backend over one queue: leases batches, buffers them, hands out one task per free
//! concurrency slot, waits on the queue's wake signal when idle, and gives back what it never
//! started when apalis closes it.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use dezky_queue::{DynQueue, FetchRequest, Fetched, LeasedJob, QueueError, WakeSignal};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::ack::AckLayer;
use crate::batch::AckBatcher;
use crate::config::WorkerConfig;
use crate::leases::{HeldLeases, heartbeat};

/// What a handler receives: the leased job and its stop switch.
#[derive(Debug, Clone)]
pub struct JobTask {
    /// The job as leased.
    pub job: LeasedJob,
    /// Becomes `true` when the job should stop (cancel requested or lease lost).
    pub cancel: watch::Receiver<bool>,
}

/// The apalis backend of one queue.
pub struct QueueSource {
    queue: DynQueue,
    name: String,
    batch: usize,
    config: WorkerConfig,
    held: HeldLeases,
    signal: WakeSignal,
    buffer: VecDeque<Task<JobTask>>,
    fetching: Option<BoxFuture<'static, Result<Fetched, QueueError>>>,
    idle: Option<BoxFuture<'static, ()>>,
    beat: Option<tokio::task::JoinHandle<()>>,
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
    /// A source for `queue_name`, leasing at most `batch` at a time, recording leases in `held`.
    pub fn new(
        queue: DynQueue,
        queue_name: &str,
        batch: usize,
        config: WorkerConfig,
        held: HeldLeases,
    ) -> Self {
        let signal = queue.wake_signal(queue_name);
        Self {
            queue,
            name: queue_name.to_owned(),
            batch: batch.max(1),
            config,
            held,
            signal,
            buffer: VecDeque::new(),
            fetching: None,
            idle: None,
            beat: None,
            closing: None,
        }
    }

    fn start_fetch(
        &mut self,
        worker: &WorkerContext,
    ) -> &mut BoxFuture<'static, Result<Fetched, QueueError>> {
        // Mark wake-ups seen *before* fetching: a push that lands during the fetch still wakes us.
        self.signal.mark_seen();
        let queue = self.queue.clone();
        let req = FetchRequest {
            queue: self.name.clone(),
            worker: worker.name().to_owned(),
            limit: self.batch,
            lease_ttl: self.config.lease_ttl,
        };
        self.fetching
            .insert(async move { queue.fetch(req).await }.boxed())
    }

    fn buffer_jobs(&mut self, jobs: Vec<LeasedJob>) {
        for job in jobs {
            let cancel = self.held.hold(job.lease.clone());
            let task = TaskBuilder::new(JobTask {
                cancel,
                job: job.clone(),
            })
            .task_id(TaskId::from_string(job.lease.id.as_str()))
            // apalis adds one when the attempt starts; the queue already counted it.
            .attempt(job.lease.attempt.saturating_sub(1) as usize)
            .build();
            self.buffer.push_back(task);
        }
    }
}

impl Drop for QueueSource {
    fn drop(&mut self) {
        if let Some(beat) = self.beat.take() {
            beat.abort();
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
        if self.beat.is_none() {
            self.beat = Some(tokio::spawn(heartbeat(
                self.queue.clone(),
                self.held.clone(),
                self.config.heartbeat,
                self.config.lease_ttl,
            )));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, QueueError>>> {
        loop {
            if let Some(task) = self.buffer.pop_front() {
                return Poll::Ready(Some(Ok(task)));
            }
            if let Some(idle) = self.idle.as_mut() {
                futures::ready!(idle.poll_unpin(cx));
                self.idle = None;
            }
            let fetching = match self.fetching.as_mut() {
                Some(f) => f,
                None => self.start_fetch(worker),
            };
            let fetched = futures::ready!(fetching.poll_unpin(cx));
            self.fetching = None;
            match fetched {
                Ok(f) if !f.jobs.is_empty() => self.buffer_jobs(f.jobs),
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
        // A fetch cut short by shutdown may already have leased jobs: finish it and give them back.
        if let Some(fetching) = self.fetching.as_mut() {
            let fetched = futures::ready!(fetching.poll_unpin(cx));
            self.fetching = None;
            if let Ok(f) = fetched {
                self.buffer_jobs(f.jobs);
            }
        }
        if self.closing.is_none() {
            let unstarted: Vec<_> = self.buffer.drain(..).map(|t| t.args.job.lease).collect();
            for lease in &unstarted {
                self.held.drop_lease(lease);
            }
            let queue = self.queue.clone();
            self.closing = Some(
                async move {
                    if !unstarted.is_empty() {
                        queue.release(&unstarted).await?;
                    }
                    Ok(())
                }
                .boxed(),
            );
        }
        let done = futures::ready!(
            self.closing
                .as_mut()
                .map_or(Poll::Ready(Ok(())), |c| c.poll_unpin(cx))
        );
        if let Some(beat) = self.beat.take() {
            beat.abort();
        }
        Poll::Ready(done)
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
        AckLayer::new(AckBatcher::spawn(self.queue.clone()), self.held.clone())
    }
}
