//! The Authentik jobs end to end: three worker processes on one Redis queue and one store, a
//! simulated Authentik that goes down while the jobs run and comes back. Seeding, two
//! provisionings of one tenant and two invites of one person all succeed within their attempts;
//! the run history shows that jobs of one key never overlapped; and the logs of all three
//! processes hold no recovery link, client secret or token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::time::Duration;

use common::{
    CRM_TOKEN, OPS_TOKEN, PORTAL_TOKEN, all_succeed, job_at, poll_until, start_three_on_redis,
};
use dezky_authentik_sim::SimConfig;
use dezky_authentik_sim::faults::{Down, Faults};
use serde_json::{Value, json};

const SIM_TOKEN: &str = "sim-e2e-token-secret";

async fn post(client: &reqwest::Client, port: u16, path: &str, body: Value) -> String {
    let response = client
        .post(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(PORTAL_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{path}");
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The attempts of `jobs` that ran holding their key: every attempt but those that found the
/// key busy (outcome `snooze`), as (start, end).
async fn held_intervals(store: &sqlx::SqlitePool, jobs: &[&str]) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    for job in jobs {
        let rows: Vec<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT started_at, finished_at, outcome FROM store_runs WHERE job_id = ?",
        )
        .bind(job)
        .fetch_all(store)
        .await
        .unwrap();
        for (start, end, outcome) in rows {
            if outcome.as_deref() != Some("snooze") {
                spans.push((start, end.unwrap_or(i64::MAX)));
            }
        }
    }
    spans
}

fn assert_apart(what: &str, mut spans: Vec<(i64, i64)>) {
    spans.sort_unstable();
    eprintln!("{what}: {spans:?}");
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "{what}: attempts overlapped: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authentik_jobs_survive_an_outage_never_overlap_and_leak_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = dezky_authentik_sim::spawn(SimConfig::new(SIM_TOKEN), listener)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = common::http();
    let extra = [
        ("DEZKY_AUTHENTIK_URL", sim.api_url()),
        ("DEZKY_AUTHENTIK_TOKEN", SIM_TOKEN.to_owned()),
        (
            "DEZKY_API_TOKENS",
            format!("portal={PORTAL_TOKEN},crm={CRM_TOKEN}"),
        ),
        ("DEZKY_OPS_TOKENS", format!("ops={OPS_TOKEN}")),
        (
            "RUST_LOG",
            "debug,h2=info,hyper=info,reqwest=info".to_owned(),
        ),
    ];
    let (ports, processes, _guard) = start_three_on_redis(&client, dir.path(), &extra).await;
    let job = |id: String| {
        let client = &client;
        async move { job_at(client, ports[2], &id).await }
    };

    // Every request takes a while, so the outage below finds jobs mid-way.
    sim.sim.faults.set(Faults {
        latency_ms: 20,
        ..Faults::default()
    });
    let tenant = json!({"slug": "acme", "name": "ACME", "domain": "auth.acme.example",
                        "redirect_uris": ["https://mail.acme.example/oidc"]});
    let mut changed = tenant.clone();
    changed["redirect_uris"] = json!(["https://mail.acme.example/oidc"]);
    changed["name"] = json!("ACME Ltd");
    let invite = json!({"email": "ops@acme.example", "name": "Ops", "groups": ["operators"]});
    // The tenant is created first (a create racing the change would find it changed: 409);
    // the rest is pushed together.
    let provision_a = post(&client, ports[0], "/v1/tenants", tenant).await;
    let (seed, provision_b, invite_a, invite_b) = tokio::join!(
        post(&client, ports[0], "/v1/seed/recovery-flow", json!({})),
        async {
            let c = &client;
            let r = c
                .put(format!("http://127.0.0.1:{}/v1/tenants/acme", ports[1]))
                .bearer_auth(PORTAL_TOKEN)
                .json(&changed)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        },
        post(&client, ports[1], "/v1/operators/invite", invite.clone()),
        post(&client, ports[2], "/v1/operators/invite", invite),
    );
    // Authentik goes down while they run, then comes back.
    let ids = [seed, provision_a, provision_b, invite_a, invite_b];
    let running = poll_until(Duration::from_secs(10), || async {
        for id in &ids[1..] {
            if job(id.clone()).await["state"] == "running" {
                return true;
            }
        }
        false
    })
    .await;
    assert!(running, "no job was running");
    sim.sim.faults.set(Faults {
        down: Some(Down::Unavailable),
        ..Faults::default()
    });
    let closed = poll_until(Duration::from_secs(10), || async {
        let ready: Value = client
            .get(format!("http://127.0.0.1:{}/readyz", ports[0]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ready["gates"]["authentik"] == "closed"
    })
    .await;
    sim.sim.faults.set(Faults {
        latency_ms: 20,
        ..Faults::default()
    });

    assert!(
        all_succeed(&client, ports[2], &ids, Duration::from_secs(60)).await,
        "not every job succeeded: {:?}",
        futures_states(&ids, &job).await
    );
    assert!(closed, "the outage never closed the gate");
    let mut secrets = vec![
        SIM_TOKEN.to_owned(),
        PORTAL_TOKEN.to_owned(),
        OPS_TOKEN.to_owned(),
    ];
    for id in &ids {
        let j = job(id.clone()).await;
        assert!(
            j["attempt"].as_u64().unwrap() <= j["max_attempts"].as_u64().unwrap(),
            "{j}"
        );
        if let Some(secret) = j["secret"].as_object() {
            secrets.extend(
                secret
                    .values()
                    .filter_map(|v| v.as_str())
                    .map(str::to_owned),
            );
        }
    }
    assert!(
        secrets.iter().any(|s| s.contains("flow_token")),
        "the invites answered their links"
    );

    let store = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        dir.path().join("store.db").display()
    ))
    .await
    .unwrap();
    // The run history is written in batches: wait until every attempt's end is in.
    let recorded = poll_until(Duration::from_secs(10), || async {
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM store_runs WHERE finished_at IS NULL")
                .fetch_one(&store)
                .await
                .unwrap();
        open == 0
    })
    .await;
    assert!(
        recorded,
        "the run history never recorded every attempt's end"
    );
    assert_apart(
        "provision-tenant",
        held_intervals(&store, &[&ids[1], &ids[2]]).await,
    );
    assert_apart(
        "invite-operator",
        held_intervals(&store, &[&ids[3], &ids[4]]).await,
    );

    drop(processes);
    for n in 0..3 {
        let logs = std::fs::read_to_string(dir.path().join(format!("process-{n}.log"))).unwrap();
        assert!(
            logs.contains("provision") || logs.contains("invite"),
            "process {n} logged its work"
        );
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "process {n} logged a secret"
            );
        }
    }
    sim.stop().await;
}

async fn futures_states<F, Fut>(ids: &[String], job: &F) -> Vec<Value>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut states = Vec::new();
    for id in ids {
        let j = job(id.clone()).await;
        states.push(json!([j["kind"], j["state"], j["attempt"], j["errors"]]));
    }
    states
}
