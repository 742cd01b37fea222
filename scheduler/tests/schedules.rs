//! Schedules in one process, time moved by hand: three replicas over one queue and store enqueue
//! each tick once and the boot job once; a tick whose previous job is unfinished is skipped; a
//! tick pushed again after its job finished is still the one job; missed ticks run once or are
//! skipped, never in a burst; a schedule runs now once however often it is asked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;
use std::time::Duration;

use dezky_queue::sqlite::{SqliteQueue, SqliteQueueConfig};
use dezky_queue::{
    Clock, DynQueue, FetchRequest, JobFilter, JobState, ManualClock, Outcome as Done,
};
use dezky_scheduler::{
    BootJob, CronExpr, MissedTicks, Outcome, Schedule, ScheduleConfig, ScheduleError, Scheduler,
    push_tick, run_now,
};
use dezky_store::Store;
use serde_json::json;

const MINUTE: Duration = Duration::from_secs(60);

struct World {
    queue: DynQueue,
    store: Store,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    // Half a second past a minute: a pass a minute on is half a second after a tick (on time).
    let start = 1_800_000_000_000 + 500; // 1_800_000_000_000 is a whole minute
    let clock = ManualClock::new(start);
    let queue: DynQueue = Arc::new(
        SqliteQueue::open(&url, Arc::new(clock.clone()), SqliteQueueConfig::default())
            .await
            .unwrap(),
    );
    let store = Store::connect(&url).await.unwrap();
    World {
        queue,
        store,
        clock,
        _dir: dir,
    }
}

fn every_minute() -> Schedule {
    Schedule {
        name: "tidy".into(),
        kind: "noop".into(),
        args: json!({}),
        expr: CronExpr::parse("* * * * *").unwrap(),
    }
}

impl World {
    fn scheduler(&self, missed: MissedTicks) -> Scheduler {
        let config = ScheduleConfig {
            schedules: vec![every_minute()],
            boot: vec![BootJob {
                key: "boot:tidy".into(),
                kind: "noop".into(),
                args: json!({}),
                window: Duration::from_secs(300),
                schedule: Some("tidy".into()),
            }],
            missed,
            poll: Duration::from_secs(1),
            off: Vec::new(),
        };
        Scheduler::new(
            self.queue.clone(),
            self.store.clone(),
            Arc::new(self.clock.clone()),
            config,
        )
    }

    async fn jobs(&self, enqueued_by: &str) -> Vec<dezky_queue::Job> {
        let mut filter = JobFilter {
            kind: Some("noop".into()),
            limit: 100,
            ..JobFilter::default()
        };
        filter.enqueued_by = Some(enqueued_by.into());
        self.queue.list(filter).await.unwrap().jobs
    }

    /// A worker runs every available job to success.
    async fn drain(&self) {
        let leased = self
            .queue
            .fetch(FetchRequest {
                queue: "noop".into(), // a job's queue is its kind unless named
                worker: "test".into(),
                limit: 100,
                lease_ttl: Duration::from_secs(30),
            })
            .await
            .unwrap();
        for job in leased.jobs {
            self.queue
                .complete(&job.lease, Done::Succeeded(json!(null)))
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn three_replicas_enqueue_each_tick_once_and_the_boot_job_once() {
    let w = world().await;
    let replicas = [
        w.scheduler(MissedTicks::Once),
        w.scheduler(MissedTicks::Once),
        w.scheduler(MissedTicks::Once),
    ];
    let (a, b, c) = tokio::join!(replicas[0].boot(), replicas[1].boot(), replicas[2].boot());
    let booted = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert!(booted.iter().all(|ids| ids == &booted[0]), "{booted:?}");
    assert_eq!(w.jobs("scheduler:boot").await.len(), 1);
    for r in &replicas {
        r.register().await.unwrap();
    }
    let first = replicas[0].pass().await.unwrap();
    assert_eq!(
        first,
        vec![Outcome::Baseline],
        "a new schedule starts from the next tick"
    );
    for n in 1..=5 {
        w.clock.advance(MINUTE);
        let (a, b, c) = tokio::join!(replicas[0].pass(), replicas[1].pass(), replicas[2].pass());
        let jobs: Vec<Option<String>> = [a, b, c]
            .into_iter()
            .flat_map(Result::unwrap)
            .map(|o| match o {
                Outcome::Enqueued { job, .. } => Some(job),
                Outcome::Idle => None,
                other => panic!("tick {n}: {other:?}"),
            })
            .collect();
        let ids: std::collections::BTreeSet<&String> = jobs.iter().flatten().collect();
        assert_eq!(
            ids.len(),
            1,
            "tick {n}: one job, whoever enqueued it: {jobs:?}"
        );
        w.drain().await;
    }
    let ticks = w.jobs("scheduler:tidy").await;
    assert_eq!(ticks.len(), 5, "five ticks, five jobs");
    let mut run_at: Vec<i64> = ticks.iter().map(|j| j.run_at).collect();
    run_at.sort_unstable();
    run_at.dedup();
    assert_eq!(run_at.len(), 5, "one job per tick, due at its tick");
    let row = w.store.schedule("tidy").await.unwrap().unwrap();
    assert_eq!(row.last_outcome.as_deref(), Some("enqueued"));
    assert_eq!(row.next_tick, Some(row.last_tick.unwrap() + 60_000));
}

#[tokio::test]
async fn a_tick_pushed_again_after_its_job_finished_is_still_that_job() {
    let w = world().await;
    let tick = w.clock.now_ms() - 500;
    let first = push_tick(&w.queue, &every_minute(), tick).await.unwrap();
    w.drain().await;
    let job = w
        .queue
        .get(&dezky_queue::JobId(first.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    w.clock.advance(MINUTE); // a late replica, a minute on
    let again = push_tick(&w.queue, &every_minute(), tick).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(w.jobs("scheduler:tidy").await.len(), 1);
}

#[tokio::test]
async fn the_boot_job_counts_as_its_schedules_newest_job() {
    let w = world().await;
    let s = w.scheduler(MissedTicks::Once);
    s.register().await.unwrap();
    let boot = s.boot().await.unwrap().remove(0);
    let row = w.store.schedule("tidy").await.unwrap().unwrap();
    assert_eq!(row.last_job.as_deref(), Some(boot.as_str()));
    assert_eq!(s.pass().await.unwrap(), vec![Outcome::Baseline]);
    // The boot job still waits: the first tick does not run beside it.
    w.clock.advance(MINUTE);
    assert!(matches!(
        s.pass().await.unwrap()[0],
        Outcome::Skipped { .. }
    ));
    w.drain().await;
    w.clock.advance(MINUTE);
    assert!(matches!(
        s.pass().await.unwrap()[0],
        Outcome::Enqueued { .. }
    ));
}

#[tokio::test]
async fn a_tick_whose_previous_job_is_unfinished_is_skipped() {
    let w = world().await;
    let s = w.scheduler(MissedTicks::Once);
    s.register().await.unwrap();
    assert_eq!(s.pass().await.unwrap(), vec![Outcome::Baseline]);
    w.clock.advance(MINUTE);
    let Outcome::Enqueued { job: slow, .. } = s.pass().await.unwrap().remove(0) else {
        panic!("the first tick runs");
    };
    // Nobody runs it: the next two ticks are skipped, not stacked.
    for _ in 0..2 {
        w.clock.advance(MINUTE);
        assert!(matches!(
            s.pass().await.unwrap()[0],
            Outcome::Skipped { .. }
        ));
        let row = w.store.schedule("tidy").await.unwrap().unwrap();
        assert_eq!(
            (row.last_outcome.as_deref(), row.last_job.as_deref()),
            (Some("skipped"), Some(slow.as_str()))
        );
    }
    assert_eq!(w.jobs("scheduler:tidy").await.len(), 1);
    w.drain().await;
    w.clock.advance(MINUTE);
    assert!(matches!(
        s.pass().await.unwrap()[0],
        Outcome::Enqueued { .. }
    ));
    assert_eq!(w.jobs("scheduler:tidy").await.len(), 2);
}

#[tokio::test]
async fn missed_ticks_run_once_on_recovery_or_are_skipped() {
    for policy in [MissedTicks::Once, MissedTicks::Skip] {
        let w = world().await;
        let s = w.scheduler(policy);
        s.register().await.unwrap();
        s.pass().await.unwrap();
        // Every scheduler is down for ten ticks, and one is back 20 s after the last of them.
        w.clock.advance(MINUTE * 10 + Duration::from_secs(20));
        let s = w.scheduler(policy);
        let back = s.pass().await.unwrap().remove(0);
        let again = s.pass().await.unwrap().remove(0);
        assert_eq!(again, Outcome::Idle, "{policy:?}: never a burst");
        let ran = w.jobs("scheduler:tidy").await.len();
        match policy {
            MissedTicks::Once => {
                assert!(matches!(back, Outcome::Enqueued { .. }), "{back:?}");
                assert_eq!(ran, 1, "once");
            }
            MissedTicks::Skip => {
                assert!(matches!(back, Outcome::Missed { .. }), "{back:?}");
                assert_eq!(ran, 0, "skipped");
                let row = w.store.schedule("tidy").await.unwrap().unwrap();
                assert_eq!(row.last_outcome.as_deref(), Some("missed"));
            }
        }
        // The next tick on time runs either way.
        w.drain().await;
        w.clock.advance(Duration::from_secs(40));
        assert!(matches!(
            s.pass().await.unwrap()[0],
            Outcome::Enqueued { .. }
        ));
    }
}

#[tokio::test]
async fn a_schedule_runs_now_once_however_often_asked() {
    let w = world().await;
    let s = w.scheduler(MissedTicks::Once);
    s.register().await.unwrap();
    let (first, replayed) = run_now(&w.queue, &w.store, &w.clock, "tidy").await.unwrap();
    assert!(!replayed);
    let (second, replayed) = run_now(&w.queue, &w.store, &w.clock, "tidy").await.unwrap();
    assert_eq!(
        (second.as_str(), replayed),
        (first.as_str(), true),
        "while unfinished"
    );
    let row = w.store.schedule("tidy").await.unwrap().unwrap();
    assert_eq!(row.last_job.as_deref(), Some(first.as_str()));
    w.drain().await;
    let (third, replayed) = run_now(&w.queue, &w.store, &w.clock, "tidy").await.unwrap();
    assert!(!replayed && third != first, "once it finished, a new run");
    assert!(matches!(
        run_now(&w.queue, &w.store, &w.clock, "nothing").await,
        Err(ScheduleError::Unknown(_))
    ));
}
