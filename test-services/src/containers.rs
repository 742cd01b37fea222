//! The containers, one of each per test process, started on a thread of their own (the
//! blocking runner makes its own runtime, which cannot start inside a test's). Untried here: no
//! engine on the development machines.

use std::sync::OnceLock;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, ContainerRequest, GenericImage, ImageExt};

/// Starts `image` once per process on its own thread, kept for the process; answers what `url`
/// makes of it.
fn once(
    cell: &'static OnceLock<(Container<GenericImage>, String)>,
    image: fn() -> ContainerRequest<GenericImage>,
    url: fn(&Container<GenericImage>) -> String,
) -> String {
    cell.get_or_init(|| {
        std::thread::spawn(move || {
            let container = image()
                .start()
                .unwrap_or_else(|e| panic!("cannot start a test container: {e}"));
            let address = url(&container);
            (container, address)
        })
        .join()
        .unwrap_or_else(|_| panic!("the test container's thread panicked"))
    })
    .1
    .clone()
}

fn host_port(container: &Container<GenericImage>, port: u16) -> u16 {
    container
        .get_host_port_ipv4(port.tcp())
        .unwrap_or_else(|e| panic!("no host port for {port}: {e}"))
}

pub fn redis() -> String {
    static CELL: OnceLock<(Container<GenericImage>, String)> = OnceLock::new();
    once(
        &CELL,
        || {
            GenericImage::new("redis", "7.4-alpine")
                .with_exposed_port(6379.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .into()
        },
        |c| format!("redis://127.0.0.1:{}", host_port(c, 6379)),
    )
}

/// Three masters and three replicas in one container (grokzen/redis-cluster), on host ports
/// 7000–7005 mapped one to one, announcing 0.0.0.0 so the host reaches every node.
pub fn redis_cluster() -> String {
    static CELL: OnceLock<(Container<GenericImage>, String)> = OnceLock::new();
    once(
        &CELL,
        || {
            let mut image = GenericImage::new("grokzen/redis-cluster", "7.0.10")
                .with_wait_for(WaitFor::message_on_stdout("Cluster state changed: ok"))
                .with_env_var("IP", "0.0.0.0");
            for port in 7000..7006 {
                image = image.with_mapped_port(port, port.tcp());
            }
            image
        },
        |_| {
            (7000..7006)
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

pub fn postgres() -> String {
    static CELL: OnceLock<(Container<GenericImage>, String)> = OnceLock::new();
    once(
        &CELL,
        || {
            GenericImage::new("postgres", "16-alpine")
                .with_exposed_port(5432.tcp())
                // The first "ready" is the init script's server; the second is the real one.
                .with_wait_for(WaitFor::message_on_stderr(
                    "database system is ready to accept connections",
                ))
                .with_wait_for(WaitFor::message_on_stderr(
                    "database system is ready to accept connections",
                ))
                .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
                .with_env_var("POSTGRES_DB", "test")
        },
        |c| format!("postgres://postgres@127.0.0.1:{}/test", host_port(c, 5432)),
    )
}
