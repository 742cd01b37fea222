//! `seed-recovery-flow` against the simulator: from an empty instance, from the unsafe flow an
//! older seeder built (identification stage, `authentication: none`, no guard, plan-time
//! policies), run twice, and with every write cut off after it was applied — always the same
//! safe end state, with no duplicate binding. Before the default blueprints apply, it waits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::time::Duration;

use dezky_authentik::client::models::{NewFlow, NewFlowStageBinding};
mod common;

use dezky_authentik::AuthentikClient;
use dezky_authentik_sim::faults::Faults;
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_jobs::JobError;
use dezky_jobs::kinds::recovery::{
    FLOW_SLUG, GUARD_EXPRESSION, IDENTIFICATION_STAGE, STAGES, SeedReport, seed,
};

const TOKEN: &str = "sim-recovery-token";

async fn start(config: SimConfig) -> (Simulator, AuthentikClient) {
    common::simulator(config, TOKEN).await
}

/// Asserts the safe end state: the flow's authentication, exactly the two stages at 10 and 20
/// (no identification), each binding guarded and evaluating when its stage runs, and the flow
/// on every brand.
async fn assert_safe(client: &AuthentikClient) {
    let flow = client.flow(FLOW_SLUG).await.unwrap();
    assert_eq!(flow.designation, "recovery");
    assert_eq!(
        flow.authentication.as_deref(),
        Some("require_unauthenticated")
    );
    let mut bindings = client.flow_bindings(&flow.pk).await.unwrap();
    bindings.sort_by_key(|b| b.order);
    let mut expected = Vec::new();
    for (name, order) in STAGES {
        expected.push((client.stage_named(name).await.unwrap().pk, order));
    }
    let actual: Vec<_> = bindings
        .iter()
        .map(|b| (b.stage.clone(), b.order))
        .collect();
    assert_eq!(actual, expected, "exactly the two stages, in order");
    let identification = client.stage_named(IDENTIFICATION_STAGE).await.unwrap();
    assert!(bindings.iter().all(|b| b.stage != identification.pk));
    let guard = client
        .expression_policy_named("default-dezky-recovery-guard")
        .await
        .unwrap()
        .expect("the guard exists");
    assert_eq!(guard.expression, GUARD_EXPRESSION);
    for binding in &bindings {
        assert!(
            !binding.evaluate_on_plan,
            "the guard must not run at plan time"
        );
        assert!(
            binding.re_evaluate_policies,
            "the guard must run with the stage"
        );
        let guards = client.policy_bindings(&binding.pk).await.unwrap();
        assert_eq!(guards.len(), 1, "one guard binding: {guards:?}");
        assert_eq!(guards[0].policy.as_deref(), Some(guard.pk.as_str()));
    }
    for brand in client.brands(false).await.unwrap() {
        assert_eq!(brand.flow_recovery.as_deref(), Some(flow.pk.as_str()));
    }
}

#[tokio::test]
async fn from_an_empty_instance_it_creates_the_safe_flow_and_a_rerun_changes_nothing() {
    let (sim, client) = start(SimConfig::new(TOKEN)).await;
    let first = seed(&client).await.unwrap();
    assert_eq!(first.status(), "created");
    assert_eq!(first.brands_patched, vec!["authentik-default".to_owned()]);
    assert_safe(&client).await;
    let second = seed(&client).await.unwrap();
    assert_eq!(second, SeedReport::default(), "unchanged");
    assert_eq!(second.status(), "unchanged");
    assert_safe(&client).await;
    sim.stop().await;
}

#[tokio::test]
async fn it_repairs_the_unsafe_flow_an_older_seeder_built() {
    let (sim, client) = start(SimConfig::new(TOKEN)).await;
    // The old seeder: authentication none, identification in front of the password stages,
    // policies evaluated at plan time, no guard.
    let flow = client
        .create_flow(&NewFlow {
            name: "Recovery".into(),
            slug: FLOW_SLUG.into(),
            title: "Recovery".into(),
            designation: "recovery".into(),
            authentication: Some("none".into()),
        })
        .await
        .unwrap();
    let old = [
        (IDENTIFICATION_STAGE, 10),
        (STAGES[0].0, 20),
        (STAGES[1].0, 30),
        (STAGES[1].0, 40),
    ];
    for (name, order) in old {
        let stage = client.stage_named(name).await.unwrap();
        client
            .bind_stage(&NewFlowStageBinding {
                target: flow.pk.clone(),
                stage: stage.pk,
                order,
                evaluate_on_plan: Some(true),
                re_evaluate_policies: Some(false),
            })
            .await
            .unwrap();
    }
    let report = seed(&client).await.unwrap();
    assert_eq!(report.status(), "repaired");
    for repair in [
        "authentication",
        "identification stage removed",
        "duplicate binding at 40 removed",
    ] {
        assert!(
            report.repairs.iter().any(|r| r == repair),
            "{repair} missing: {report:?}"
        );
    }
    assert_safe(&client).await;
    assert_eq!(seed(&client).await.unwrap().status(), "unchanged");
    sim.stop().await;
}

#[tokio::test]
async fn every_write_cut_off_after_it_applied_still_converges_without_duplicates() {
    let (sim, client) = start(SimConfig::new(TOKEN)).await;
    sim.sim.faults.set(Faults {
        reset_after_commit_rate: 1.0,
        ..Faults::default()
    });
    // Each run gets at least one write further; a worker would run it again the same way.
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 40, "no convergence after 40 runs");
        match seed(&client).await {
            Ok(_) => break,
            Err(JobError::Unavailable { .. }) => continue,
            Err(e) => panic!("unexpected failure: {e}"),
        }
    }
    assert!(runs > 1, "the writes were not cut off");
    sim.sim.faults.set(Faults::default());
    assert_safe(&client).await;
    sim.stop().await;
}

#[tokio::test]
async fn before_the_default_blueprints_apply_it_waits() {
    let mut config = SimConfig::new(TOKEN);
    config.blueprints_after = Duration::from_secs(3600);
    let (sim, client) = start(config).await;
    match seed(&client).await {
        Err(JobError::Snooze(_)) => {}
        other => panic!("expected a snooze, got {other:?}"),
    }
    assert!(client.flow(FLOW_SLUG).await.is_err(), "nothing was created");
    sim.stop().await;
}
