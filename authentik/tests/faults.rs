//! Each fault, classified right by the client; and a write hit by commit-then-reset, retried
//! through the find-or-create helpers, leaves exactly one object.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use dezky_authentik::AuthentikError;
use dezky_authentik::client::models::{NewFlow, NewGroup, NewUser};
use dezky_authentik_sim::SimConfig;
use dezky_authentik_sim::faults::{Down, Faults};

async fn classify(faults: Faults) -> AuthentikError {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    sim.sim.faults.set(faults);
    let e = client.version().await.unwrap_err();
    sim.stop().await;
    e
}

#[tokio::test]
async fn refused_connections_are_transient_connect_errors() {
    let e = classify(Faults {
        down: Some(Down::Refuse),
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(e, AuthentikError::Connect(_)) && e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_unavailable_app_is_a_transient_5xx_and_is_counted() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    sim.sim.faults.set(Faults {
        down: Some(Down::Unavailable),
        ..Faults::default()
    });
    let e = client.version().await.unwrap_err();
    assert!(
        matches!(e, AuthentikError::Server { status: 503 }) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(sim.sim.faults.unavailable_answers.load(Ordering::SeqCst), 1);
    sim.sim.faults.set(Faults::default());
    client.version().await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn latency_past_the_timeout_is_a_transient_timeout() {
    let e = classify(Faults {
        latency_ms: 5_000,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(e, AuthentikError::Timeout) && e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_slow_body_past_the_timeout_is_a_transient_timeout() {
    let e = classify(Faults {
        slow_body_ms: 300,
        ..Faults::default()
    })
    .await;
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test]
async fn server_errors_are_transient() {
    let e = classify(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(e, AuthentikError::Server { status: 500 | 502 }) && e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_transient_and_carry_retry_after() {
    let e = classify(Faults {
        rate_limit_retry_after: Some(7),
        ..Faults::default()
    })
    .await;
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn writes_cut_off_after_commit_leave_exactly_one_object_through_find_or_create() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    sim.sim.faults.set(Faults {
        reset_after_commit_rate: 1.0,
        ..Faults::default()
    });
    let group = NewGroup {
        name: "acme-operators".into(),
    };
    let user = NewUser {
        username: "ops".into(),
        name: "".into(),
        email: None,
        groups: vec![],
        attributes: None,
    };
    let flow = NewFlow {
        name: "r".into(),
        slug: "dezky-recovery".into(),
        title: "r".into(),
        designation: "recovery".into(),
        authentication: None,
    };
    let e = client.create_group(&group).await.unwrap_err();
    assert!(
        e.is_transient(),
        "a cut-off write looks like a connection error: {e:?}"
    );
    assert!(client.create_user(&user).await.unwrap_err().is_transient());
    assert!(client.create_flow(&flow).await.unwrap_err().is_transient());
    assert_eq!(
        sim.sim.faults.resets.load(Ordering::SeqCst),
        3,
        "each write was applied, then cut off"
    );

    sim.sim.faults.set(Faults::default());
    let found_group = client.find_or_create_group(&group).await.unwrap();
    let found_user = client.find_or_create_user(&user).await.unwrap();
    let found_flow = client.find_or_create_flow(&flow).await.unwrap();
    assert_eq!(found_group.name, "acme-operators");
    assert_eq!(found_user.username, "ops");
    assert_eq!(found_flow.slug, "dezky-recovery");
    let groups: Vec<serde_json::Value> = client
        .list_all("/core/groups/", &[("name", "acme-operators")])
        .await
        .unwrap();
    let users: Vec<serde_json::Value> = client
        .list_all("/core/users/", &[("username", "ops")])
        .await
        .unwrap();
    let flows: Vec<serde_json::Value> = client
        .list_all("/flows/instances/", &[("slug", "dezky-recovery")])
        .await
        .unwrap();
    assert_eq!(
        (groups.len(), users.len(), flows.len()),
        (1, 1, 1),
        "exactly one of each"
    );
    sim.stop().await;
}

#[tokio::test]
async fn the_same_seed_makes_the_same_failures() {
    let pattern = |seed: u64| async move {
        let mut config = SimConfig::new(common::TOKEN);
        config.seed = seed;
        config.faults = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let (sim, client) = common::start(config).await;
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(client.version().await.is_ok());
        }
        sim.stop().await;
        outcomes
    };
    assert_eq!(pattern(42).await, pattern(42).await);
    assert_ne!(pattern(42).await, pattern(43).await);
}

#[tokio::test]
async fn faults_change_at_runtime_through_the_admin_endpoint() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/_sim/faults", sim.addr);
    let body = serde_json::json!({"down": "unavailable"});
    let denied = http
        .put(&url)
        .bearer_auth(common::TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403, "the API token is not the admin token");
    let admin = format!("{}-admin", common::TOKEN);
    let set = http
        .put(&url)
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert!(matches!(
        client.version().await.unwrap_err(),
        AuthentikError::Server { status: 503 }
    ));
    let report: serde_json::Value = http
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["unavailable_answers"], 1);
    let bad = http
        .put(&url)
        .bearer_auth(&admin)
        .json(&serde_json::json!({"down": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    http.put(&url)
        .bearer_auth(&admin)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    client.version().await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn the_simulator_counts_requests_per_second() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    for _ in 0..3 {
        client.version().await.unwrap();
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/_sim/stats", sim.addr);
    let denied = http
        .get(&url)
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403, "the API token is not the admin token");
    let stats: serde_json::Value = http
        .get(&url)
        .bearer_auth(format!("{}-admin", common::TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 3, "{stats}");
    let per_second: u64 = stats["per_second"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_second, 3);
    assert!(stats["busiest_second"].as_u64().unwrap() >= 1);
    sim.stop().await;
}

/// A fence that says the run lost its job.
#[derive(Debug)]
struct Expired;

impl dezky_authentik::WriteFence for Expired {
    fn check(&self) -> Result<(), String> {
        Err("its lease expired".into())
    }
}

#[tokio::test]
async fn a_run_that_lost_its_lease_reads_but_sends_no_write() {
    let (sim, client) = common::start(SimConfig::new(common::TOKEN)).await;
    let fenced = client.with_fence(std::sync::Arc::new(Expired));
    fenced.version().await.unwrap();
    let e = fenced
        .find_or_create_group(&NewGroup {
            name: "written-by-a-stale-run".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthentikError::Fenced(_)) && !e.is_transient(),
        "{e:?}"
    );
    assert_eq!(
        client
            .group_named("written-by-a-stale-run")
            .await
            .unwrap()
            .map(|g| g.pk),
        None
    );
    sim.stop().await;
}
