//! `dezky-jobs dev`: the whole product plus an Authentik simulator on a free port, pointed at each
//! other, with fresh tokens printed for the developer (the one place tokens are shown: they are
//! development tokens, made for this run).

use anyhow::Context;
use dezky_authentik::ClientConfig;
use dezky_authentik_sim::{SimConfig, Simulator};
use rand::distr::{Alphanumeric, SampleString};
use secrecy::ExposeSecret;

use crate::config::{ApiArgs, RunArgs};

/// Where the simulator keeps its objects between `dev` runs.
const SIM_STATE: &str = "dezky-dev-authentik.json";

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// Starts the simulator and answers the API settings (tokens filled in when unset) and the
/// Authentik client configuration pointing at it.
pub async fn start(args: &RunArgs) -> anyhow::Result<(ApiArgs, ClientConfig, Simulator)> {
    let mut api = args.api.clone();
    if api.api_tokens.trim().is_empty() {
        api.api_tokens = format!("portal={}", token());
    }
    if api.ops_tokens.trim().is_empty() {
        api.ops_tokens = format!("ops={}", token());
    }
    let sim_token = token();
    let config = SimConfig {
        state_file: Some(SIM_STATE.into()),
        ..SimConfig::new(&sim_token)
    };
    let admin_token = config.admin_token.expose_secret().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let simulator = dezky_authentik_sim::spawn(config, listener)
        .await
        .context("starting the Authentik simulator")?;
    let authentik = ClientConfig::new(&simulator.api_url(), &sim_token);
    #[allow(
        clippy::print_stdout,
        reason = "dev mode's purpose is to show the developer where things are"
    )]
    {
        println!("dezky-jobs dev");
        println!("  API                 http://{}", api.listen);
        println!("  portal tokens       {}", api.api_tokens);
        println!("  ops tokens          {}", api.ops_tokens);
        println!("  Authentik simulator {}", simulator.api_url());
        println!("  simulator token     {sim_token}");
        println!(
            "  simulator admin     {admin_token} (PUT http://{}/_sim/faults)",
            simulator.addr
        );
    }
    Ok((api, authentik, simulator))
}
