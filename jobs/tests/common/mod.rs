//! What the kinds' tests share: a simulator on port 0 and a client without in-call retries (a
//! test sees each answer; a worker would run the job again), and a store of the test's own.

#![allow(dead_code, reason = "each test binary uses a different part")]

use dezky_authentik::{AuthentikClient, ClientConfig};
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_store::Store;

/// A simulator with `config` (its token `token`) and a client pointed at it.
pub async fn simulator(config: SimConfig, token: &str) -> (Simulator, AuthentikClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim = dezky_authentik_sim::spawn(config, listener)
        .await
        .expect("start the simulator");
    let mut client_config = ClientConfig::new(&sim.api_url(), token);
    client_config.retries = 0;
    let client = AuthentikClient::new(client_config).expect("client");
    (sim, client)
}

/// A SQLite store in `dir`, at the URL it answers with (a queue may share the file).
pub async fn store_in(dir: &tempfile::TempDir) -> (Store, String) {
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    (Store::connect(&url).await.expect("store"), url)
}
