//! `dezky-jobs probe`: asks a process's `/healthz` once and answers whether it said 200, so a
//! container image without curl has a health check (`HEALTHCHECK CMD ["dezky-jobs", "probe"]`).
//! It reads DEZKY_LISTEN as the process it checks was started with, and nothing else: no store,
//! no queue, no secret.

use std::time::Duration;

use anyhow::Context;

use crate::config::HealthProbeArgs;

/// Asks once; `Ok` when the answer is a success.
pub async fn check(args: &HealthProbeArgs) -> anyhow::Result<()> {
    let url = args.url()?;
    // reqwest is built without a TLS provider of its own (an https URL needs one).
    dezky_authentik::client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()
        .context("cannot build the HTTP client")?;
    let answer = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} does not answer"))?;
    anyhow::ensure!(
        answer.status().is_success(),
        "{url} answered {}",
        answer.status()
    );
    Ok(())
}
