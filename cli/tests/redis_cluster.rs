//! The application on a Redis Cluster: an echo job from `POST /v1/jobs` to `succeeded`, and jobs
//! run through a `CLUSTER FAILOVER` and a slot migration mid-run, none lost. The failover test
//! starts a private 3+3 cluster of its own (ports 7100-7105, `scripts/redis-cluster.sh`), so
//! moving masters and slots never disturbs other tests on the shared one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PORTAL_TOKEN, fast_workers, in_state, poll_until, spawn_app_on};
use dezky_cli::config::QueueLocation;
use dezky_queue::contract::redis_prefix::{fresh_prefix_at, redis_cluster_url};
use serde_json::{Value, json};

#[tokio::test]
async fn an_echo_job_runs_on_a_cluster() {
    let url = redis_cluster_url();
    let (prefix, guard) = fresh_prefix_at(&url);
    let location = QueueLocation::Redis { url, prefix };
    let app = spawn_app_on(Some(location), Some(fast_workers())).await;
    let id = app
        .enqueue_ok(json!({"kind": "echo", "args": {"on": "cluster"}}))
        .await;
    let job = app
        .wait_for_job(&id, Duration::from_secs(10), in_state("succeeded"))
        .await;
    assert_eq!(job["result"], json!({"on": "cluster"}));
    assert!(guard.key_count() > 0, "the job lives in the cluster");
    app.stop().await;
}

/// A private cluster, shut down on drop.
struct PrivateCluster {
    base_port: u16,
    urls: String,
}

impl PrivateCluster {
    fn start(base_port: u16) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis-cluster.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .env("DEZKY_CLUSTER_BASE_PORT", base_port.to_string())
            .output()
            .expect("run scripts/redis-cluster.sh");
        assert!(
            out.status.success(),
            "the private cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            base_port,
            urls: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        }
    }

    fn node(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn ports(&self) -> impl Iterator<Item = u16> {
        self.base_port..self.base_port + 6
    }

    /// Every node as (id, port, is master, master id), from `CLUSTER NODES` of a live node.
    fn nodes(&self) -> Vec<Node> {
        let text: String = self
            .ports()
            .find_map(|p| {
                redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut self.node(p))
                    .ok()
            })
            .unwrap();
        text.lines()
            .map(|line| {
                let f: Vec<&str> = line.split(' ').collect();
                let port = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                Node {
                    id: f[0].to_owned(),
                    port,
                    master: f[2].contains("master"),
                    master_id: f[3].to_owned(),
                    slots: f[8..].iter().map(|s| (*s).to_owned()).collect(),
                }
            })
            .collect()
    }

    /// Whether the node on `port` says it is a master (its own word, not a peer's possibly stale
    /// view).
    fn is_master(&self, port: u16) -> bool {
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut self.node(port)).unwrap();
        matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master")
    }

    /// The master serving `slot`, as this node sees it.
    fn owner(&self, slot: u16) -> Node {
        self.nodes()
            .into_iter()
            .filter(|n| n.master)
            .find(|n| n.serves(slot))
            .unwrap()
    }

    /// Promotes `master`'s replica with a coordinated `CLUSTER FAILOVER`, and waits until it
    /// serves `slot`.
    async fn fail_over(&self, master: &Node, slot: u16) {
        let replica = self
            .nodes()
            .into_iter()
            .find(|n| n.master_id == master.id)
            .expect("a replica");
        // A manual failover gives up after 5 s when the replica cannot catch up in time (a
        // loaded machine); then it is asked again.
        for _ in 0..3 {
            let _: String = redis::cmd("CLUSTER")
                .arg("FAILOVER")
                .query(&mut self.node(replica.port))
                .unwrap();
            if poll_until(Duration::from_secs(8), || async {
                self.owner(slot).id == replica.id
                    && self.is_master(replica.port)
                    && !self.is_master(master.port)
            })
            .await
            {
                return;
            }
        }
        panic!("the replica did not take over");
    }

    /// Moves `slot` to another master, a few keys at a time while the app runs.
    async fn migrate(&self, slot: u16) {
        let source = self.owner(slot);
        let target = self
            .nodes()
            .into_iter()
            .find(|n| n.id != source.id && self.is_master(n.port))
            .unwrap();
        let setslot = |port: u16, how: &str, id: &str| {
            let _: String = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(how)
                .arg(id)
                .query(&mut self.node(port))
                .unwrap();
        };
        setslot(target.port, "IMPORTING", &source.id);
        setslot(source.port, "MIGRATING", &target.id);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(25)
                .query(&mut self.node(source.port))
                .unwrap();
            if keys.is_empty() {
                break;
            }
            let _: redis::Value = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(target.port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query(&mut self.node(source.port))
                .unwrap();
            // The app keeps working between batches (on the runtime's other thread), so the
            // slot is half moved while jobs are pushed, leased and acknowledged.
            tokio::task::yield_now().await;
        }
        for node in self.nodes().iter().filter(|n| self.is_master(n.port)) {
            setslot(node.port, "NODE", &target.id);
        }
        assert_eq!(self.owner(slot).id, target.id);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis-cluster.sh");
        let _ = std::process::Command::new("bash")
            .arg(script)
            .arg("stop")
            .env("DEZKY_CLUSTER_BASE_PORT", self.base_port.to_string())
            .status();
    }
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    port: u16,
    master: bool,
    master_id: String,
    slots: Vec<String>,
}

impl Node {
    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|range| {
            let mut ends = range.split('-').map(|n| n.parse::<u16>());
            match (ends.next(), ends.next()) {
                (Some(Ok(a)), Some(Ok(b))) => (a..=b).contains(&slot),
                (Some(Ok(a)), None) => a == slot,
                _ => false, // an importing/migrating marker
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_failover_and_a_slot_migration() {
    let cluster = PrivateCluster::start(7100);
    let (prefix, _guard) = fresh_prefix_at(&cluster.urls);
    let location = QueueLocation::Redis {
        url: cluster.urls.clone(),
        prefix: prefix.clone(),
    };
    let app = spawn_app_on(Some(location), Some(fast_workers())).await;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(format!("{prefix}:{{echo}}:available"))
        .query(&mut cluster.node(cluster.base_port))
        .unwrap();

    // Pushes go on all along; every job the API accepted must end succeeded.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let pushing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pusher = tokio::spawn({
        let (accepted, pushing) = (accepted.clone(), pushing.clone());
        let url = app.url("/v1/jobs");
        let client = app.client.clone();
        async move {
            let mut n = 0;
            while pushing.load(std::sync::atomic::Ordering::SeqCst) || n < 50 {
                n += 1;
                let response = client
                    .post(&url)
                    .bearer_auth(PORTAL_TOKEN)
                    .json(&json!({"kind": "echo", "args": {"n": n}}))
                    .send()
                    .await
                    .unwrap();
                // A push refused while the cluster moves (503) was not accepted: not lost.
                if response.status() == 202 {
                    let body: Value = response.json().await.unwrap();
                    accepted
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned());
                }
            }
        }
    });
    let accepted_count = || accepted.lock().unwrap().len();

    assert!(poll_until(Duration::from_secs(20), || async { accepted_count() >= 50 }).await);
    let master = cluster.owner(slot);
    cluster.fail_over(&master, slot).await;
    let after_failover = accepted_count();
    assert!(
        poll_until(Duration::from_secs(30), || async {
            accepted_count() >= after_failover + 50
        })
        .await,
        "pushes did not resume after the failover"
    );
    cluster.migrate(slot).await;
    let after_migration = accepted_count();
    assert!(
        poll_until(Duration::from_secs(30), || async {
            accepted_count() >= after_migration + 50
        })
        .await,
        "pushes did not resume after the migration"
    );
    pushing.store(false, std::sync::atomic::Ordering::SeqCst);
    pusher.await.unwrap();

    let ids: BTreeSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(ids.len() >= 150);
    for id in &ids {
        app.wait_for_job(id, Duration::from_secs(30), in_state("succeeded"))
            .await;
    }
    app.stop().await;
}
