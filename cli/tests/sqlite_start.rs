//! Processes starting together on one new SQLite file — replicas of the default deployment, or
//! a test's three processes — all open it: none stops with "database is locked" (they all
//! switch the new file to WAL at once, which does not wait for SQLite's busy timeout).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

#[test]
fn processes_opening_a_new_sqlite_file_together_all_start() {
    for round in 0..15 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let children: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
                    .arg("migrate")
                    .env("DEZKY_DATABASE_URL", &url)
                    .env_remove("DEZKY_REDIS_URL")
                    .stderr(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
