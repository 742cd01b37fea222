//! Crash safety with the real binary: a SIGKILLed process loses no accepted job, and a handler
//! that kills its process ends `dead` after `max_attempts` instead of looping forever.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Process, enqueue_at, free_port, poll_until, start_binary, wait_ready};
use dezky_queue::sqlite::SqliteQueue;
use dezky_queue::{JobState, QueueBackend};
use serde_json::json;

fn start(db_url: &str, port: u16) -> Process {
    let env = [
        ("DEZKY_DATABASE_URL", db_url.to_owned()),
        ("DEZKY_LEASE_TTL_SECS", "2".to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
        ("DEZKY_ENABLE_TEST_KINDS", "true".to_owned()),
    ];
    Process(start_binary(port, &env))
}

/// A process on a fresh SQLite file, up and answering.
struct Started {
    dir: tempfile::TempDir,
    db_url: String,
    port: u16,
    client: reqwest::Client,
    process: Process,
}

async fn start_fresh() -> Started {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let (port, client) = (free_port(), common::http());
    let process = start(&db_url, port);
    assert!(
        wait_ready(&client, port).await,
        "dezky-jobs did not come up"
    );
    Started {
        dir,
        db_url,
        port,
        client,
        process,
    }
}

#[tokio::test]
async fn sigkill_mid_run_loses_no_accepted_job() {
    let Started {
        dir: _dir,
        db_url,
        port,
        client,
        mut process,
    } = start_fresh().await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(
            enqueue_at(
                &client,
                port,
                json!({"kind": "sleep", "args": {"ms": 1500}}),
            )
            .await,
        );
    }
    let queue = SqliteQueue::open_default(&db_url).await.unwrap();
    let running = poll_until(Duration::from_secs(15), || async {
        let mut n = 0;
        for id in &ids {
            n += usize::from(queue.get(id).await.unwrap().unwrap().state == JobState::Running);
        }
        n >= 4
    })
    .await;
    assert!(running, "jobs never started");
    process.0.kill().unwrap(); // SIGKILL
    process.0.wait().unwrap();

    let _restarted = start(&db_url, port);
    let all_done = poll_until(Duration::from_secs(60), || async {
        let mut done = true;
        for id in &ids {
            done &= queue.get(id).await.unwrap().unwrap().state == JobState::Succeeded;
        }
        done
    })
    .await;
    let mut rerun = 0;
    for id in &ids {
        let job = queue.get(id).await.unwrap().unwrap();
        assert_eq!(
            job.state,
            JobState::Succeeded,
            "every accepted job succeeds (job {id}: {job:?})"
        );
        rerun += usize::from(job.errors.iter().any(|e| e.class == "lease_expired"));
    }
    assert!(all_done);
    assert!(
        rerun >= 4,
        "the killed attempts came back through lease expiry ({rerun} did)"
    );
}

#[tokio::test]
async fn a_handler_that_kills_its_process_ends_dead_after_max_attempts() {
    let Started {
        dir: _dir,
        db_url,
        port,
        client,
        mut process,
    } = start_fresh().await;
    let id = enqueue_at(&client, port, json!({"kind": "crash", "max_attempts": 2})).await;
    let queue = SqliteQueue::open_default(&db_url).await.unwrap();
    let mut starts = 1;
    let dead = poll_until(Duration::from_secs(90), || {
        // Restart the process whenever the crash kind has killed it.
        if process.0.try_wait().unwrap().is_some() {
            process = start(&db_url, port);
            starts += 1;
        }
        let queue = &queue;
        let id = &id;
        async move { queue.get(id).await.unwrap().unwrap().state == JobState::Dead }
    })
    .await;
    let job = queue.get(&id).await.unwrap().unwrap();
    assert!(dead, "the poison job should be dead: {job:?}");
    assert_eq!(job.attempt, 2);
    assert_eq!(
        job.errors
            .iter()
            .filter(|e| e.class == "lease_expired")
            .count(),
        2,
        "{:?}",
        job.errors
    );
    assert!(
        starts >= 3,
        "each attempt killed its process ({starts} starts)"
    );
}

#[tokio::test]
async fn sigterm_lets_running_jobs_finish_then_exits_cleanly() {
    let Started {
        dir: _dir,
        db_url,
        port,
        client,
        mut process,
    } = start_fresh().await;
    let id = enqueue_at(
        &client,
        port,
        json!({"kind": "sleep", "args": {"ms": 1000}}),
    )
    .await;
    let queue = SqliteQueue::open_default(&db_url).await.unwrap();
    let running = poll_until(Duration::from_secs(15), || async {
        queue.get(&id).await.unwrap().unwrap().state == JobState::Running
    })
    .await;
    assert!(running);
    let term = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exited = poll_until(Duration::from_secs(30), || {
        let done = process.0.try_wait().unwrap();
        async move { done.is_some() }
    })
    .await;
    assert!(exited, "the process did not stop after SIGTERM");
    assert!(
        process.0.wait().unwrap().success(),
        "a graceful stop exits 0"
    );
    let job = queue.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Succeeded, 1),
        "the running job finished in the grace period"
    );
}
