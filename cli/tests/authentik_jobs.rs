//! The Authentik jobs end to end: three worker processes on one Redis queue and one store, a
//! simulated Authentik that goes down while the jobs run and comes back. Seeding, two
//! provisionings of one tenant, two invites of one person and a reconciliation (with any
//! provisioning it enqueues) all succeed within their attempts;
//! the simulator's request log shows that jobs of one key never overlapped; and the logs of all three
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
    send(client, reqwest::Method::POST, port, path, body).await
}

/// Sends `body` to `path` as the portal; answers the id of the job it enqueued.
async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    port: u16,
    path: &str,
    body: Value,
) -> String {
    let response = client
        .request(method, format!("http://127.0.0.1:{port}{path}"))
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

/// The runs of `jobs` as the simulator's request log shows them: for each run (lease) that
/// reached Authentik, from its first request's arrival to its last answer.
fn attempt_spans(sim: &dezky_authentik_sim::Sim, jobs: &[&str]) -> Vec<(u64, u64)> {
    let mut spans: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for x in sim.recorder.exchanges() {
        let Some(tag) = x.job else { continue };
        if !jobs.iter().any(|j| tag.starts_with(&format!("{j}/"))) {
            continue;
        }
        let span = spans.entry(tag).or_insert((x.started_us, x.finished_us));
        span.0 = span.0.min(x.started_us);
        span.1 = span.1.max(x.finished_us);
    }
    for job in jobs {
        assert!(
            spans.keys().any(|t| t.starts_with(&format!("{job}/"))),
            "job {job} reached Authentik"
        );
    }
    spans.into_values().collect()
}

fn assert_apart(what: &str, mut spans: Vec<(u64, u64)>) {
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
    let mut config = SimConfig::new(SIM_TOKEN);
    config.record = true; // the request log, read job by job below
    let sim = dezky_authentik_sim::spawn(config, listener).await.unwrap();
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
    let (seed, provision_b, invite_a, invite_b, reconcile) = tokio::join!(
        post(&client, ports[0], "/v1/seed/recovery-flow", json!({})),
        send(
            &client,
            reqwest::Method::PUT,
            ports[1],
            "/v1/tenants/acme",
            changed
        ),
        post(&client, ports[1], "/v1/operators/invite", invite.clone()),
        post(&client, ports[2], "/v1/operators/invite", invite),
        post(
            &client,
            ports[2],
            "/v1/jobs",
            json!({"kind": "reconcile-tenants", "args": {}})
        ),
    );
    // Authentik goes down while they run, then comes back.
    let ids = [
        seed,
        provision_a,
        provision_b,
        invite_a,
        invite_b,
        reconcile,
    ];
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
        let url = format!("http://127.0.0.1:{}/readyz", ports[0]);
        let ready = common::get_json(&client, &url, None).await;
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
    // What reconciliation enqueued (provisioning any tenant it found drifted) succeeds too.
    let children: Vec<String> = job(ids[5].clone()).await["result"]["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert!(
        all_succeed(&client, ports[2], &children, Duration::from_secs(60)).await,
        "reconciliation's children: {:?}",
        futures_states(&children, &job).await
    );
    for id in ids.iter().chain(&children) {
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

    // Round two, Authentik up: two changes of one tenant and two invites of one person, pushed
    // at once into the three processes. Each run takes a few hundred milliseconds (20 ms a
    // request), so without the exclusion they would run side by side.
    let globex = json!({"slug": "globex", "name": "Globex", "domain": "auth.globex.example",
                        "redirect_uris": ["https://mail.globex.example/oidc"]});
    let mut renamed = globex.clone();
    renamed["name"] = json!("Globex Corporation");
    let invite = json!({"email": "ops@globex.example", "name": "Ops", "groups": ["operators"]});
    let (put_a, put_b, invite_c, invite_d) = tokio::join!(
        send(
            &client,
            reqwest::Method::PUT,
            ports[0],
            "/v1/tenants/globex",
            globex
        ),
        send(
            &client,
            reqwest::Method::PUT,
            ports[1],
            "/v1/tenants/globex",
            renamed
        ),
        post(&client, ports[1], "/v1/operators/invite", invite.clone()),
        post(&client, ports[2], "/v1/operators/invite", invite),
    );
    let round_two = [put_a, put_b, invite_c, invite_d];
    assert!(
        all_succeed(&client, ports[2], &round_two, Duration::from_secs(60)).await,
        "not every job of round two succeeded: {:?}",
        futures_states(&round_two, &job).await
    );
    for id in &round_two {
        if let Some(secret) = job(id.clone()).await["secret"].as_object() {
            secrets.extend(
                secret
                    .values()
                    .filter_map(|v| v.as_str())
                    .map(str::to_owned),
            );
        }
    }
    // Both provisionings converged to the desired state stored last, whichever it was.
    let tenant_url = format!("http://127.0.0.1:{}/v1/tenants/globex", ports[0]);
    let stored = common::get_json(&client, &tenant_url, Some(PORTAL_TOKEN)).await;
    let application_url = format!("{}/core/applications/dezky-tenant-globex/", sim.api_url());
    let application = common::get_json(&client, &application_url, Some(SIM_TOKEN)).await;
    assert_eq!(application["name"], stored["desired"]["name"], "{stored}");

    // Every provisioning of acme: the two pushed, and any reconciliation enqueued.
    let provisions: Vec<&str> = [&ids[1], &ids[2]]
        .into_iter()
        .chain(&children)
        .map(String::as_str)
        .collect();
    assert_apart("provision-tenant", attempt_spans(&sim.sim, &provisions));
    assert_apart(
        "invite-operator",
        attempt_spans(&sim.sim, &[&ids[3], &ids[4]]),
    );
    assert_apart(
        "provision-tenant, round two",
        attempt_spans(&sim.sim, &[&round_two[0], &round_two[1]]),
    );
    assert_apart(
        "invite-operator, round two",
        attempt_spans(&sim.sim, &[&round_two[2], &round_two[3]]),
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
