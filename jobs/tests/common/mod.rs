//! What the kinds' tests share: a simulator on port 0 and a client without in-call retries (a
//! test sees each answer; a worker would run the job again), a store of the test's own, and
//! the kinds' logs at debug level in the test's captured output (which the suite's log scan
//! reads for secrets: `scripts/secrets-in-logs.sh`).

#![allow(dead_code, reason = "each test binary uses a different part")]

use dezky_authentik::{AuthentikClient, ClientConfig};
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_store::Store;

/// The kinds' logs, at debug level, into the test's captured output.
pub fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,hyper=info,reqwest=info,h2=info,sqlx=warn")
        .with_test_writer()
        .try_init();
}

/// A simulator with `config` (its token `token`) and a client pointed at it.
pub async fn simulator(config: SimConfig, token: &str) -> (Simulator, AuthentikClient) {
    capture_logs();
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

/// The writes the simulator cut off after they applied, so far.
pub fn resets(sim: &Simulator) -> u64 {
    sim.sim
        .faults
        .resets
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// The writes a clean run applied (the simulator's count since its faults were last set).
pub fn writes(sim: &Simulator) -> u64 {
    sim.sim
        .faults
        .writes
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// Cuts off write `n` (1-based) after it applied, then runs `run` again and again as a worker
/// would — a lost answer is a transient failure — until it succeeds; answers how many runs that
/// took. Panics on any other failure, or when the write was not cut off.
pub async fn converge_with_write_cut<T, F, Fut>(sim: &Simulator, n: u64, mut run: F) -> u32
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, dezky_jobs::JobError>>,
{
    use dezky_authentik_sim::faults::Faults;
    use dezky_jobs::JobError;
    sim.sim.faults.set(Faults {
        reset_write_number: Some(n),
        ..Faults::default()
    });
    let resets_before = resets(sim);
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 5, "write {n} cut off: no convergence in 5 runs");
        match run().await {
            Ok(_) => break,
            Err(JobError::Unavailable { .. } | JobError::Retry { .. }) => {}
            Err(e) => panic!("write {n} cut off: the rerun failed: {e}"),
        }
    }
    assert_eq!(resets(sim) - resets_before, 1, "write {n} was cut off");
    sim.sim.faults.set(Faults::default());
    runs
}
