//! `/metrics` on every role: the api (with the queue's depth), a worker and a scheduler — each a
//! process of its own on one SQLite file, each on its own port — answer Prometheus text that
//! parses, to an ops token or the metrics token only, and the counters move as jobs run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{
    METRICS_TOKEN, OPS_TOKEN, PORTAL_TOKEN, Process, enqueue_at, free_port, job_at, poll_until,
    start_subcommand, wait_ready,
};
use serde_json::json;

/// Scrapes `port`'s `/metrics` with `token`: the status, and the samples when it answered.
async fn scrape(
    client: &reqwest::Client,
    port: u16,
    token: &str,
) -> (u16, Vec<prometheus_parse::Sample>) {
    let response = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text that parses");
    (status, scrape.samples)
}

/// The value of `metric` with `labels` among `samples` (0 when absent).
fn value(samples: &[prometheus_parse::Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_serves_metrics_that_parse_and_move() {
    let dir = tempfile::tempdir().unwrap();
    let client = common::http();
    let env = vec![
        (
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("jobs.db").display()),
        ),
        ("DEZKY_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
    ];
    let (api, worker, scheduler) = (free_port(), free_port(), free_port());
    let start = |role: &str, port: u16| {
        let mut env = env.clone();
        env.push(("DEZKY_LISTEN", format!("127.0.0.1:{port}")));
        let logs = std::fs::File::create(dir.path().join(format!("{role}.log"))).unwrap();
        Process(start_subcommand(role, port, &env, logs))
    };
    // The api first: it migrates the file the others open.
    let _api = start("api", api);
    assert!(wait_ready(&client, api).await, "the api came up");
    let _worker = start("worker", worker);
    let _scheduler = start("scheduler", scheduler);
    for port in [worker, scheduler] {
        assert!(wait_ready(&client, port).await, "{port} came up");
    }

    for port in [api, worker, scheduler] {
        assert_eq!(scrape(&client, port, "nothing").await.0, 401);
        assert_eq!(
            scrape(&client, port, PORTAL_TOKEN).await.0,
            401,
            "not for the portal"
        );
        assert_eq!(scrape(&client, port, OPS_TOKEN).await.0, 200);
    }
    let (_, before) = scrape(&client, worker, METRICS_TOKEN).await;
    let succeeded = [("kind", "echo"), ("outcome", "succeeded")];
    let ran_before = value(&before, "dezky_attempts_total", &succeeded);

    let id = enqueue_at(&client, api, json!({"kind": "echo", "args": {"n": 1}})).await;
    let done = poll_until(Duration::from_secs(20), || async {
        job_at(&client, api, &id.0).await["state"] == "succeeded"
    })
    .await;
    assert!(done, "the worker ran the job");

    let (_, after) = scrape(&client, worker, METRICS_TOKEN).await;
    assert_eq!(
        value(&after, "dezky_attempts_total", &succeeded),
        ran_before + 1.0,
        "the worker counted the attempt"
    );
    assert!(
        after
            .iter()
            .any(|s| s.metric == "dezky_attempt_duration_seconds_count"),
        "durations are a histogram"
    );
    assert!(
        after
            .iter()
            .any(|s| s.metric == "dezky_pickup_latency_seconds_count"),
        "pickup latencies are a histogram"
    );
    assert_eq!(
        value(&after, "dezky_leases_held", &[]),
        0.0,
        "none held once done"
    );
    let (_, depth) = scrape(&client, api, METRICS_TOKEN).await;
    assert_eq!(
        value(
            &depth,
            "dezky_queue_jobs",
            &[("queue", "echo"), ("state", "succeeded")]
        ),
        1.0,
        "the api reports the queue's depth"
    );
    assert_eq!(
        value(
            &depth,
            "dezky_queue_oldest_available_age_seconds",
            &[("queue", "echo")]
        ),
        0.0,
        "and the oldest available job's age: none is waiting"
    );
    assert!(
        depth
            .iter()
            .any(|s| s.metric == "dezky_queue_oldest_available_age_seconds"
                && s.labels.get("queue") == Some("echo")),
        "the age is reported"
    );
    assert_eq!(
        value(&after, "dezky_queue_jobs", &[]),
        0.0,
        "only the api does, so a sum over pods counts each job once"
    );
    let (status, _) = scrape(&client, scheduler, METRICS_TOKEN).await;
    assert_eq!(status, 200, "the scheduler's parse too");
}
