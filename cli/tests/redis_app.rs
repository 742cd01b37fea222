//! The application with its queue on Redis: in process, and as the real binary started with
//! `DEZKY_REDIS_URL`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;
use dezky_queue::contract::redis_prefix as support;

use std::time::Duration;

use common::{
    PORTAL_TOKEN, fast_workers, free_port, in_state, job_at, poll_until, spawn_app_on,
    start_binary, wait_ready,
};
use dezky_cli::config::QueueLocation;
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
    let port = free_port();
    let mut child = start_on_redis(&prefix, dir.path(), port);
    let client = common::http();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_ready(&client, port).await);
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
        job_at(&client, port, &id).await["state"] == "succeeded"
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

fn start_on_redis(prefix: &str, dir: &std::path::Path, port: u16) -> std::process::Child {
    let env = [
        (
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.join(format!("{port}.db")).display()),
        ),
        ("DEZKY_REDIS_URL", support::redis_url()),
        ("DEZKY_REDIS_PREFIX", prefix.to_owned()),
        ("DEZKY_LEASE_TTL_SECS", "2".to_owned()),
    ];
    start_binary(port, &env)
}

/// Two processes work one Redis queue; one is SIGKILLed mid-run. The survivor finishes every job
/// (the dead one's through lease expiry), and the killed one starts again beside it.
#[tokio::test]
async fn a_killed_process_jobs_finish_on_another_process() {
    let (prefix, _guard) = support::fresh_prefix();
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let client = common::http();
    let mut a = start_on_redis(&prefix, dir.path(), port_a);
    assert!(wait_ready(&client, port_a).await);
    // Only A runs at first, so the jobs it leases are the ones the kill interrupts.
    let api_a = format!("http://127.0.0.1:{port_a}");
    let mut ids = Vec::new();
    for _ in 0..20 {
        let body = json!({"kind": "sleep", "args": {"ms": 400}});
        let r = client
            .post(format!("{api_a}/v1/jobs"))
            .bearer_auth(PORTAL_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let job = |api: String, id: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("{api}/v1/jobs/{id}"))
                .bearer_auth(PORTAL_TOKEN)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let running = poll_until(Duration::from_secs(15), || async {
        job(api_a.clone(), ids[0].clone()).await["state"] == "running"
    })
    .await;
    assert!(running);
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();

    let mut b = start_on_redis(&prefix, dir.path(), port_b);
    assert!(wait_ready(&client, port_b).await);
    let api_b = format!("http://127.0.0.1:{port_b}");
    let all_done = poll_until(Duration::from_secs(60), || async {
        for id in &ids {
            if job(api_b.clone(), id.clone()).await["state"] != "succeeded" {
                return false;
            }
        }
        true
    })
    .await;
    let mut recovered = 0;
    for id in &ids {
        let errors = job(api_b.clone(), id.clone()).await["errors"].clone();
        recovered += usize::from(
            errors
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["class"] == "lease_expired")),
        );
    }
    let mut restarted = start_on_redis(&prefix, dir.path(), port_a);
    let back = wait_ready(&client, port_a).await;
    for child in [&mut restarted, &mut b] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(all_done, "every job finished on the surviving process");
    assert!(
        recovered >= 1,
        "the killed process's leases came back through expiry"
    );
    assert!(back, "the killed process starts again beside its successor");
}
