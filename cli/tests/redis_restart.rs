//! Redis restarts: a test-owned `redis-server` with AOF (`appendfsync always`) on a spare port is
//! SIGKILLed and restarted while jobs are pushed and worked. No acknowledged push is lost and
//! every job finishes; workers and pushers reconnect by themselves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fast_workers, free_port, poll_until, spawn_app_on};
use dezky_cli::config::QueueLocation;
use dezky_queue::{JobId, JobState, NewJob};

struct RedisServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start(port: u16, dir: &std::path::Path) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test.sh installs it)");
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        *self = Self::start(self.port, &self.dir.clone());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    match client.get_multiplexed_async_connection().await {
        Ok(mut c) => redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_run_loses_no_acknowledged_push() {
    const JOBS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = RedisServer::start(port, dir.path());
    let url = server.url();
    assert!(
        poll_until(Duration::from_secs(10), || answers(&url)).await,
        "redis-server did not start"
    );

    let location = QueueLocation::Redis {
        url: url.clone(),
        prefix: "restart".into(),
    };
    let app = spawn_app_on(Some(location), Some(fast_workers())).await;
    let acknowledged: Arc<Mutex<Vec<JobId>>> = Arc::default();
    let pusher = {
        let (queue, acknowledged) = (app.queue.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let mut retry = tokio::time::interval(Duration::from_millis(20));
            for n in 0..JOBS {
                loop {
                    retry.tick().await;
                    // A push that errs may or may not have landed; only acknowledged ones count.
                    if let Ok(p) = queue
                        .push(NewJob::new("echo", serde_json::json!({ "n": n })))
                        .await
                    {
                        acknowledged.lock().unwrap().push(p.id);
                        break;
                    }
                }
            }
        })
    };
    let some = poll_until(Duration::from_secs(30), || async {
        acknowledged.lock().unwrap().len() >= JOBS / 3
    })
    .await;
    assert!(some);
    server.kill_and_restart();
    assert!(
        poll_until(Duration::from_secs(10), || answers(&url)).await,
        "redis-server did not restart"
    );
    tokio::time::timeout(Duration::from_secs(60), pusher)
        .await
        .expect("pushes resume after the restart")
        .unwrap();

    let ids = acknowledged.lock().unwrap().clone();
    assert_eq!(ids.len(), JOBS);
    let queue = app.queue.clone();
    let all_done = poll_until(Duration::from_secs(60), || {
        let (queue, ids) = (queue.clone(), ids.clone());
        async move {
            for id in &ids {
                match queue.get(id).await {
                    Ok(Some(job)) if job.state == JobState::Succeeded => {}
                    _ => return false,
                }
            }
            true
        }
    })
    .await;
    for id in &ids {
        let job = app.queue.get(id).await.unwrap();
        assert!(
            job.as_ref().is_some_and(|j| j.state == JobState::Succeeded),
            "job {id} was lost or stuck: {job:?}"
        );
    }
    assert!(all_done);
    app.stop().await;
}
