//! Every `DEZKY_*` variable `deploy/` sets is one the binary reads (a misspelt one would be
//! ignored in silence), and each way to deploy sets the ones a production deployment needs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use dezky_cli::config::Cli;

/// The variables the binary reads: every argument's `env` of every subcommand.
fn known() -> BTreeSet<String> {
    fn walk(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, into);
        }
    }
    let mut names = BTreeSet::new();
    walk(&Cli::command(), &mut names);
    names
}

/// The `DEZKY_*` names in `text` (whole words: `JOBS_DEZKY_X` is not one).
fn variables(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("DEZKY_") {
        let word_before =
            at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if word_before {
            continue;
        }
        let end = text[at..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map_or(text.len(), |n| at + n);
        found.insert(text[at..end].to_owned());
    }
    found
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The text files under `dir` (the vendored JSON Schemas aside).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "schemas") {
                out.extend(files(&path));
            }
        } else {
            out.push(path);
        }
    }
    out
}

fn used_in(paths: &[PathBuf]) -> BTreeSet<String> {
    paths
        .iter()
        .flat_map(|p| variables(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

#[test]
fn deploy_sets_only_variables_the_binary_reads() {
    let known = known();
    assert!(known.contains("DEZKY_DATABASE_URL") && known.contains("DEZKY_LISTEN"));
    for path in files(&deploy()) {
        let text = std::fs::read_to_string(&path).unwrap();
        for name in variables(&text) {
            assert!(
                known.contains(&name),
                "{} sets {name}, which the binary does not read",
                path.display()
            );
        }
    }
}

#[test]
fn each_way_to_deploy_sets_what_production_needs() {
    let every = [
        "DEZKY_DATABASE_URL",
        "DEZKY_SECRET_KEY",
        "DEZKY_API_TOKENS",
        "DEZKY_OPS_TOKENS",
        "DEZKY_METRICS_TOKEN",
        "DEZKY_AUTHENTIK_URL",
        "DEZKY_AUTHENTIK_TOKEN",
        "DEZKY_AUTHENTIK_PUBLIC_HOST",
    ];
    let d = deploy();
    let ways: [(&str, Vec<PathBuf>, &[&str]); 3] = [
        (
            "compose",
            vec![d.join("compose.yaml")],
            &["DEZKY_REDIS_URL", "DEZKY_LISTEN"],
        ),
        (
            "kubernetes",
            files(&d.join("k8s")),
            &[
                "DEZKY_REDIS_URL",
                "DEZKY_LISTEN",
                "DEZKY_SHUTDOWN_GRACE_SECS",
            ],
        ),
        ("systemd", files(&d.join("systemd")), &["DEZKY_LISTEN"]),
    ];
    for (way, paths, more) in ways {
        let used = used_in(&paths);
        for name in every.iter().chain(more) {
            assert!(used.contains(*name), "{way} does not set {name}");
        }
    }
}

#[test]
fn the_scan_reads_whole_names() {
    let found = variables("A=DEZKY_LISTEN x ${DEZKY_SECRET_KEY:?} JOBS_DEZKY_IMAGE DEZKY_A1_B\n");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["DEZKY_A1_B", "DEZKY_LISTEN", "DEZKY_SECRET_KEY"]
    );
}
