//! What kinds stand on, through the real application: child jobs (enqueued for the parent's
//! caller, listed in the parent's result), secret results (read by their enqueuer only, shown to
//! ops as `[redacted]`, in no list, gone after their time to live, never in the logs), and a
//! worker without Authentik leaving out the kinds that need it, saying so.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{
    CRM_TOKEN, OPS_TOKEN, PORTAL_TOKEN, Process, TestApp, fast_workers, free_port, in_state,
    poll_until, spawn_app_tuned, start_binary_logging, wait_ready,
};
use serde_json::{Value, json};

async fn get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stored_secrets(app: &TestApp) -> i64 {
    let dezky_store::Store::Sqlite(pool) = &app.store else {
        panic!("the test app's store is SQLite");
    };
    sqlx::query_scalar("SELECT COUNT(*) FROM store_secrets")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_job_belongs_to_its_parents_caller_and_is_listed_in_its_result() {
    let app = spawn_app_tuned(None, Some(fast_workers()), |_| {}).await;
    let parent = app
        .enqueue_ok(json!({"kind": "spawn", "args": {"count": 3}}))
        .await;
    let done = app
        .wait_for_job(&parent, Duration::from_secs(20), in_state("succeeded"))
        .await;
    assert_eq!(done["result"]["spawned"], 3);
    let children: Vec<String> = done["result"]["children"]
        .as_array()
        .expect("the parent's result lists its children")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(children.len(), 3);
    for child in &children {
        let job = app
            .wait_for_job(child, Duration::from_secs(20), in_state("succeeded"))
            .await;
        assert_eq!(
            job["enqueued_by"], "portal",
            "a child is its parent's caller's"
        );
        assert_eq!(job["kind"], "echo");
        let (status, _) = get_as(&app, CRM_TOKEN, &format!("/v1/jobs/{child}")).await;
        assert_eq!(status, 404, "another caller does not see the child");
    }
    let (_, listed) = get_as(&app, PORTAL_TOKEN, "/v1/jobs?kind=echo").await;
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 3, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_its_enqueuer_only_and_is_erased_after_its_time() {
    let app = spawn_app_tuned(None, Some(fast_workers()), |s| {
        s.secrets.ttl = Duration::from_secs(2);
    })
    .await;
    let id = app.enqueue_ok(json!({"kind": "secret", "args": {}})).await;
    let done = app
        .wait_for_job(&id, Duration::from_secs(20), in_state("succeeded"))
        .await;
    let password = done["secret"]["password"]
        .as_str()
        .expect("the enqueuer reads the secret")
        .to_owned();
    assert!(password.starts_with("pw-"));
    assert_eq!(done["result"], json!({"length": password.len()}));

    let (status, as_ops) = get_as(&app, OPS_TOKEN, &format!("/v1/jobs/{id}")).await;
    assert_eq!((status, &as_ops["secret"]), (200, &json!("[redacted]")));
    let (status, _) = get_as(&app, CRM_TOKEN, &format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 404);
    for token in [PORTAL_TOKEN, OPS_TOKEN] {
        let (_, list) = get_as(&app, token, "/v1/jobs?kind=secret").await;
        assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
        assert!(list["jobs"][0].get("secret").is_none(), "{list}");
        assert!(!list.to_string().contains(&password));
    }
    for file in ["jobs.db", "jobs.db-wal"] {
        let bytes = std::fs::read(app.dir.path().join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "{file} holds the secret in clear"
        );
    }

    // Past its time: no longer shown, then erased from the store.
    assert!(
        poll_until(Duration::from_secs(15), || async {
            let (_, job) = get_as(&app, PORTAL_TOKEN, &format!("/v1/jobs/{id}")).await;
            job.get("secret").is_none()
        })
        .await,
        "the secret outlived its time to live"
    );
    assert!(
        poll_until(Duration::from_secs(15), || async {
            stored_secrets(&app).await == 0
        })
        .await,
        "the expired secret was not erased"
    );
    let (_, as_ops) = get_as(&app, OPS_TOKEN, &format!("/v1/jobs/{id}")).await;
    assert!(as_ops.get("secret").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_of_a_run_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("run.log");
    let env = [
        (
            "DEZKY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("jobs.db").display()),
        ),
        ("DEZKY_ENABLE_TEST_KINDS", "true".to_owned()),
        ("DEZKY_POLL_INTERVAL_MS", "50".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let port = free_port();
    let logs = std::fs::File::create(&log_path).unwrap();
    let process = Process(start_binary_logging(port, &env, logs));
    let client = common::http();
    assert!(
        wait_ready(&client, port).await,
        "the process did not come up"
    );
    let id = common::enqueue_at(&client, port, json!({"kind": "secret", "args": {}})).await;
    assert!(
        poll_until(Duration::from_secs(20), || async {
            common::job_at(&client, port, &id.0).await["state"] == "succeeded"
        })
        .await
    );
    let job = common::job_at(&client, port, &id.0).await;
    let password = job["secret"]["password"].as_str().unwrap().to_owned();
    // Lists and the ops view, logged at debug as they are served.
    for token in [PORTAL_TOKEN, OPS_TOKEN] {
        client
            .get(format!("http://127.0.0.1:{port}/v1/jobs"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    drop(process);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains(&id.0), "the run was logged: {logs}");
    assert!(!logs.contains(&password), "a secret reached the logs");
    assert!(
        logs.contains("not running this kind") && logs.contains("authentik-version"),
        "a worker without Authentik says which kinds it leaves out"
    );
    let key_file = dir.path().join("jobs.db.secret-key");
    let key = std::fs::read_to_string(&key_file).expect("a key was generated beside the store");
    assert!(!logs.contains(key.trim()), "the key reached the logs");
}
