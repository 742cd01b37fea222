//! `dezky-jobs probe`: exit 0 when the process at DEZKY_LISTEN (or `--url`) answers `/healthz`,
//! 1 with a reason when it does not answer or answers otherwise (the image's health check).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::process::{Command, Output};

use common::{free_port, spawn_app_with};

fn probe(args: &[&str], listen: Option<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dezky-jobs"));
    command.arg("probe").args(args).env_remove("DEZKY_LISTEN");
    if let Some(listen) = listen {
        command.env("DEZKY_LISTEN", listen);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_0_on_a_healthy_process_and_1_otherwise() {
    let app = spawn_app_with(None).await;
    let port = app.addr.port();

    let healthy = probe(&[], Some(format!("0.0.0.0:{port}")));
    assert!(healthy.status.success(), "{healthy:?}");
    let by_url = probe(&["--url", &app.url("/healthz")], None);
    assert!(by_url.status.success(), "{by_url:?}");

    let closed = free_port();
    let down = probe(
        &["--timeout-ms", "2000"],
        Some(format!("127.0.0.1:{closed}")),
    );
    assert_eq!(down.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("does not answer"),
        "{down:?}"
    );
    let missing = probe(&["--url", &app.url("/no-such-page")], None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("404"),
        "{missing:?}"
    );
    app.stop().await;
}
