//! The simulator as its own process: SIGKILLed and restarted on the same port and state file, it
//! serves the objects created before the kill — as Authentik keeps them in its database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, poll_until};
use dezky_authentik::client::models::NewGroup;
use dezky_authentik::{AuthentikClient, ClientConfig};

const TOKEN: &str = "sim-process-token";

fn start_sim(port: u16, state: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .args([
            "authentik-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
            "--state",
        ])
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_sigkilled_simulator_keeps_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("authentik.json");
    let port = free_port();
    let client = AuthentikClient::new(ClientConfig::new(
        &format!("http://127.0.0.1:{port}/api/v3"),
        TOKEN,
    ))
    .unwrap();
    let up = || {
        poll_until(Duration::from_secs(30), || async {
            client.version().await.is_ok()
        })
    };

    let mut first = start_sim(port, &state);
    assert!(up().await, "the simulator did not come up");
    let group = client
        .find_or_create_group(&NewGroup {
            name: "kept-across-kill".into(),
        })
        .await
        .unwrap();
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(client.version().await.is_err(), "it is down");

    let mut second = start_sim(port, &state);
    assert!(up().await, "the simulator did not come back");
    let found = client.group_named("kept-across-kill").await.unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(found.map(|g| g.pk), Some(group.pk));
}

/// `dezky-jobs dev` starts the product and a simulator pointed at each other and prints tokens
/// that work against both.
#[tokio::test]
async fn dev_mode_prints_working_tokens_for_the_api_and_the_simulator() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .arg("dev")
        .current_dir(dir.path())
        .env("DEZKY_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("DEZKY_API_TOKENS")
        .env_remove("DEZKY_OPS_TOKENS")
        .env_remove("DEZKY_REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("simulator admin"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let field = |name: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(name))
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
            .unwrap()
    };
    let portal = field("portal tokens")
        .trim_start_matches("portal=")
        .to_owned();
    let (sim_url, sim_token) = (field("Authentik simulator"), field("simulator token"));
    let http = common::http();
    assert!(common::wait_ready(&http, port).await);
    let r = http
        .post(format!("http://127.0.0.1:{port}/v1/jobs"))
        .bearer_auth(&portal)
        .json(&serde_json::json!({"kind": "echo"}))
        .send()
        .await
        .unwrap();
    let simulator = AuthentikClient::new(ClientConfig::new(&sim_url, &sim_token)).unwrap();
    let version = simulator.version().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(version.unwrap().version_current, "2025.12.4");
}
