//! The application with its queue on Redis: in process, and as the real binary started with
//! `DEZKY_REDIS_URL`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;
#[path = "support/redis.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{PORTAL_TOKEN, fast_workers, in_state, poll_until, spawn_app_on};
use dezky_jobs::config::QueueLocation;
use serde_json::{Value, json};

#[tokio::test]
async fn jobs_run_through_the_redis_queue() {
    let (prefix, guard) = support::fresh_prefix();
    let location = QueueLocation::Redis {
        url: support::redis_url(),
        prefix,
    };
    let app = spawn_app_on(Some(location), Some(fast_workers())).await;
    let echo = app
        .enqueue_ok(json!({"kind": "echo", "args": {"on": "redis"}}))
        .await;
    let retried = app
        .enqueue_ok(json!({"kind": "fail", "args": {"mode": "retry", "succeed_on_attempt": 2}}))
        .await;
    let job = app
        .wait_for_job(&echo, Duration::from_secs(10), in_state("succeeded"))
        .await;
    assert_eq!(job["result"], json!({"on": "redis"}));
    let job = app
        .wait_for_job(&retried, Duration::from_secs(15), in_state("succeeded"))
        .await;
    assert_eq!(job["attempt"], 2);
    assert!(
        guard.key_count() > 0,
        "the jobs live in Redis under the test's prefix"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_binary_keeps_its_queue_in_redis_when_told_to() {
    let (prefix, guard) = support::fresh_prefix();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .arg("run")
        .env(
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("jobs.db").display()),
        )
        .env("DEZKY_REDIS_URL", support::redis_url())
        .env("DEZKY_REDIS_PREFIX", &prefix)
        .env("DEZKY_LISTEN", format!("127.0.0.1:{port}"))
        .env("DEZKY_API_TOKENS", format!("portal={PORTAL_TOKEN}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let up = poll_until(Duration::from_secs(30), || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(up);
    let r = client
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(PORTAL_TOKEN)
        .json(&json!({"kind": "echo"}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = poll_until(Duration::from_secs(10), || async {
        let job: Value = client
            .get(format!("{base}/v1/jobs/{id}"))
            .bearer_auth(PORTAL_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        job["state"] == "succeeded"
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(done);
    assert!(
        guard.key_count() > 0,
        "the queue is in Redis, not in the SQLite file"
    );
}
