//! Where the tests find their services. Each service is, in order of preference:
//! 1. the one its `DEZKY_TEST_*` variable names (`scripts/test.sh` sets them all, and CI runs
//!    that);
//! 2. a container this test process starts through testcontainers, when a Docker engine answers
//!    (`cargo test` alone on a laptop with Docker); the containers live as long as the process,
//!    and testcontainers' reaper removes them after it;
//! 3. the local default, as `scripts/test.sh` starts it on a machine without an engine.
//!
//! The choice is a pure function ([`choose`]), tested here; the container path was written from
//! testcontainers' documentation and has not run on the development machines, which have a
//! Docker CLI but no engine.

use std::sync::OnceLock;

mod containers;

/// Where a service comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The URL its variable gives.
    Given(String),
    /// A container of this process's own.
    Container,
    /// The local default URL.
    Local(String),
}

/// The source of a service whose variable holds `given`, whose local default is `local`; asks
/// `engine_answers` only when nothing is given (asking costs a `docker info`).
pub fn choose(given: Option<String>, local: &str, engine_answers: impl FnOnce() -> bool) -> Source {
    match given.filter(|g| !g.trim().is_empty()) {
        Some(url) => Source::Given(url),
        None if engine_answers() => Source::Container,
        None => Source::Local(local.to_owned()),
    }
}

/// Whether a Docker engine answers `docker info` (asked once per process).
pub fn docker_engine_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        std::process::Command::new("docker")
            .arg("info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn resolve(variable: &str, local: &str, container: fn() -> String) -> String {
    match choose(std::env::var(variable).ok(), local, docker_engine_answers) {
        Source::Given(url) | Source::Local(url) => url,
        Source::Container => container(),
    }
}

/// The tests' Redis (`DEZKY_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    resolve(
        "DEZKY_TEST_REDIS_URL",
        "redis://127.0.0.1:6379",
        containers::redis,
    )
}

/// The tests' Redis Cluster, its seed nodes comma-separated (`DEZKY_TEST_REDIS_CLUSTER_URL`).
pub fn redis_cluster_url() -> String {
    let local = (7000..7006)
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    resolve(
        "DEZKY_TEST_REDIS_CLUSTER_URL",
        &local,
        containers::redis_cluster,
    )
}

/// The tests' PostgreSQL (`DEZKY_TEST_DATABASE_URL`).
pub fn postgres_url() -> String {
    resolve(
        "DEZKY_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
        containers::postgres,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_service_wins_and_the_engine_is_not_asked() {
        let source = choose(Some("redis://r:6379".into()), "redis://local", || {
            panic!("asked the engine")
        });
        assert_eq!(source, Source::Given("redis://r:6379".into()));
    }

    #[test]
    fn nothing_given_takes_a_container_when_an_engine_answers_else_the_local_one() {
        assert_eq!(choose(None, "redis://local", || true), Source::Container);
        assert_eq!(
            choose(None, "redis://local", || false),
            Source::Local("redis://local".into())
        );
        assert_eq!(
            choose(Some("  ".into()), "redis://local", || false),
            Source::Local("redis://local".into()),
            "an empty variable is not a URL"
        );
    }
}
