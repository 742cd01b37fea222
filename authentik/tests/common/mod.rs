//! Starting a simulator on port 0 and a client pointed at it.

#![allow(dead_code, reason = "each test binary uses a different part")]

use dezky_authentik::{AuthentikClient, ClientConfig};
use dezky_authentik_sim::{SimConfig, Simulator, spawn};

pub const TOKEN: &str = "sim-test-token";

/// A simulator with `config` and a client without in-call retries (tests see each answer).
pub async fn start(config: SimConfig) -> (Simulator, AuthentikClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim = spawn(config, listener).await.expect("start the simulator");
    let mut client_config = ClientConfig::new(&sim.api_url(), TOKEN);
    client_config.retries = 0;
    client_config.timeout = std::time::Duration::from_secs(2);
    let client = AuthentikClient::new(client_config).expect("client");
    (sim, client)
}

/// The OpenAPI subset shared beside the project, with the repository's extension.
pub fn spec() -> dezky_authentik::openapi::OpenApi {
    dezky_authentik::openapi::OpenApi::as_used().expect("the OpenAPI subset and its extension")
}
