//! Schedules across replicas, end to end: three `run` processes — API, workers and scheduler
//! each — on one queue and one store (Redis, then SQLite), reconciling every two seconds against
//! a simulated Authentik. Booting together, they enqueue one seeding job; over at least five
//! ticks, each tick yields exactly one job, due at its tick, and no tick between the first and
//! the last is lost. (Reconciliation holds no key, so its jobs never wait and keep the tick as
//! their `run_at`; a job that waits is due later.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{OPS_TOKEN, Process, get_json, poll_until};
use dezky_authentik_sim::SimConfig;
use serde_json::Value;

const SIM_TOKEN: &str = "sim-schedules-token";
/// Ticks every two seconds: a reconciliation takes a fraction of that, so no tick finds the
/// previous job unfinished.
const EVERY_TWO_SECONDS: &str = "*/2 * * * * *";
const TICKS: usize = 5;

async fn jobs_of(client: &reqwest::Client, port: u16, kind: &str) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/v1/jobs?kind={kind}&limit=500");
    get_json(client, &url, Some(OPS_TOKEN)).await["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ms(rfc3339: &str) -> i64 {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// Runs the scenario on three processes on Redis or on SQLite.
async fn each_tick_once(on_redis: bool) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = dezky_authentik_sim::spawn(SimConfig::new(SIM_TOKEN), listener)
        .await
        .unwrap();
    let client = common::http();
    let env = vec![
        ("DEZKY_AUTHENTIK_URL", sim.api_url()),
        ("DEZKY_AUTHENTIK_TOKEN", SIM_TOKEN.to_owned()),
        ("DEZKY_SEED_CRON", "off".to_owned()),
        ("DEZKY_RECONCILE_CRON", EVERY_TWO_SECONDS.to_owned()),
        ("DEZKY_SCHEDULE_POLL_MS", "200".to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut _prefix_guard = None;
    let (ports, processes): ([u16; 3], Vec<Process>) = if on_redis {
        let (ports, processes, guard) =
            common::start_three_on_redis(&client, dir.path(), &env).await;
        _prefix_guard = Some(guard);
        (ports, processes)
    } else {
        common::start_three_on_sqlite(&client, dir.path(), &env).await
    };

    let ticked = poll_until(Duration::from_secs(30), || async {
        let jobs = jobs_of(&client, ports[0], "reconcile-tenants").await;
        let finished_ticks = jobs
            .iter()
            .filter(|j| j["enqueued_by"] == "scheduler:reconcile" && j["state"] == "succeeded")
            .count();
        finished_ticks > TICKS
    })
    .await;
    let jobs = jobs_of(&client, ports[0], "reconcile-tenants").await;
    let seeds = jobs_of(&client, ports[0], "seed-recovery-flow").await;
    drop(processes);
    assert!(ticked, "fewer than {TICKS} ticks ran: {jobs:#?}");

    let boot: Vec<&Value> = seeds
        .iter()
        .filter(|j| j["enqueued_by"] == "scheduler:boot")
        .collect();
    assert_eq!(
        boot.len(),
        1,
        "three replicas booting together: one seeding: {seeds:#?}"
    );
    assert_eq!(seeds.len(), 1, "and no seeding schedule: {seeds:#?}");
    let mut per_tick: BTreeMap<i64, usize> = BTreeMap::new();
    for job in jobs
        .iter()
        .filter(|j| j["enqueued_by"] == "scheduler:reconcile")
    {
        *per_tick
            .entry(ms(job["run_at"].as_str().unwrap()))
            .or_default() += 1;
    }
    eprintln!("jobs per tick: {per_tick:?}");
    assert!(per_tick.len() > TICKS, "{per_tick:?}");
    assert!(
        per_tick.values().all(|&n| n == 1),
        "each tick one job: {per_tick:?}"
    );
    let ticks: Vec<i64> = per_tick.keys().copied().collect();
    assert!(
        ticks.windows(2).all(|w| w[1] - w[0] == 2_000),
        "every tick from the first to the last: {ticks:?}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_redis_enqueue_each_tick_once() {
    each_tick_once(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_sqlite_enqueue_each_tick_once() {
    each_tick_once(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_see_the_schedules_and_run_one_now_once() {
    let app = common::spawn_app_tuned(None, None, |settings| {
        let scheduler = settings.scheduler.as_mut().unwrap();
        scheduler.schedules.poll = Duration::from_millis(50);
        scheduler.schedules.schedules = vec![dezky_scheduler::Schedule {
            name: "tidy".into(),
            kind: "noop".into(),
            args: serde_json::json!({}),
            expr: dezky_scheduler::CronExpr::parse("0 3 * * *").unwrap(),
        }];
    })
    .await;
    let list_url = app.url("/v1/schedules");
    let shown = poll_until(Duration::from_secs(10), || async {
        let list = get_json(&app.client, &list_url, Some(OPS_TOKEN)).await;
        list["schedules"][0]["last_outcome"] == "baseline"
    })
    .await;
    let list = get_json(&app.client, &list_url, Some(OPS_TOKEN)).await;
    assert!(shown, "{list}");
    let tidy = &list["schedules"][0];
    assert_eq!(
        (&tidy["name"], &tidy["expression"]),
        (&"tidy".into(), &"0 3 * * *".into())
    );
    assert!(tidy["next_tick"].as_i64().unwrap() > tidy["last_tick"].as_i64().unwrap());
    let portal = app
        .client
        .get(&list_url)
        .bearer_auth(common::PORTAL_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(portal.status(), 403, "ops only");

    let run = |name: &'static str| {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/schedules/{name}/run"));
        async move {
            client
                .post(url)
                .bearer_auth(OPS_TOKEN)
                .send()
                .await
                .unwrap()
        }
    };
    let (first, second) = tokio::join!(run("tidy"), run("tidy"));
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (202, 202)
    );
    let replayed = [&first, &second]
        .iter()
        .filter(|r| r.headers().contains_key("idempotent-replayed"))
        .count();
    let ids: Vec<String> = [first, second]
        .into_iter()
        .map(|r| r.headers()["location"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (ids[0].as_str(), replayed),
        (ids[1].as_str(), 1),
        "asked twice at once: one job"
    );
    let list = get_json(&app.client, &list_url, Some(OPS_TOKEN)).await;
    let last_job = &list["schedules"][0]["last_job"];
    assert_eq!(
        format!("/v1/jobs/{}", last_job["id"].as_str().unwrap()),
        ids[0],
        "{list}"
    );
    assert_eq!(last_job["state"], "available", "no worker here");
    assert_eq!(run("nothing").await.status(), 404);
    app.stop().await;
}

#[test]
fn a_bad_cron_expression_stops_the_start_naming_its_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dezky-jobs"))
        .arg("scheduler")
        .env("DEZKY_SEED_CRON", "61 * * * *")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEZKY_SEED_CRON"), "{stderr}");
}
