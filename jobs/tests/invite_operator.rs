//! `invite-operator` against the simulator: a link invite seeds the recovery flow when none is
//! set and answers the link as a secret; reruns and cut-off writes leave one user in each group
//! once; emails that share a local part stay two users; a tenant not provisioned yet makes the
//! invite wait, an unknown one refuses it; the password fallback sets a temporary password only
//! when allowed and marks it expired in the attributes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_authentik::client::models::NewFlow;
mod common;

use dezky_authentik::AuthentikClient;
use dezky_authentik_sim::faults::Faults;
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_jobs::kinds::invite::{InviteOperator, InviteSettings};
use dezky_jobs::kinds::recovery::FLOW_SLUG;
use dezky_jobs::kinds::tenant::tenant_group;
use dezky_jobs::{JobContext, JobError, Output, Registry, Services};
use dezky_store::Store;
use serde_json::{Value, json};

const TOKEN: &str = "sim-invite-token";

struct World {
    sim: Simulator,
    client: AuthentikClient,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_with(SimConfig::new(TOKEN)).await
}

async fn world_with(config: SimConfig) -> World {
    let (sim, client) = common::simulator(config, TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = common::store_in(&dir).await;
    World {
        sim,
        client,
        store,
        _dir: dir,
    }
}

impl World {
    async fn invite_with(&self, args: Value, invites: InviteSettings) -> Result<Output, JobError> {
        let registry = Registry::new().register(InviteOperator);
        let kind = registry.get("invite-operator").unwrap();
        let (mut ctx, _stop) = JobContext::detached("invite-operator");
        ctx.id = ulid::Ulid::new().to_string();
        ctx.services = Services {
            authentik: Some(self.client.clone()),
            store: Some(self.store.clone()),
            invites,
            ..Services::default()
        };
        kind.prepare(args)?.run(ctx).await
    }

    async fn invite(&self, args: Value) -> Result<Output, JobError> {
        self.invite_with(args, InviteSettings::default()).await
    }

    async fn count<T: serde::de::DeserializeOwned>(&self, path: &str, q: (&str, &str)) -> usize {
        self.client.list_all::<T>(path, &[q]).await.unwrap().len()
    }

    async fn members(&self, group: &str) -> Vec<i64> {
        let group = self.client.group_named(group).await.unwrap().unwrap();
        let mut members = self.client.group(&group.pk).await.unwrap().users;
        members.sort_unstable();
        members
    }
}

#[tokio::test]
async fn a_link_invite_seeds_the_flow_and_answers_the_link_as_a_secret() {
    let w = world().await;
    let args = json!({"email": "Ops@A.example", "name": "Ops", "groups": ["operators"]});
    let output = w.invite(args.clone()).await.unwrap();
    assert_eq!(output.result["username"], "ops@a.example");
    assert_eq!(output.result["delivery"], "link");
    let link = output.secret.as_ref().unwrap()["recovery_link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.contains(&format!("/if/flow/{FLOW_SLUG}/?flow_token=")),
        "{link}"
    );
    assert!(
        !output.result.to_string().contains("flow_token"),
        "the link is only a secret"
    );
    // Again, and again with half the writes cut off after they applied (a recovery link is a
    // write too, so not every one can be): one user, a member once.
    w.invite(args.clone()).await.unwrap();
    w.sim.sim.faults.set(Faults {
        reset_after_commit_rate: 0.5,
        ..Faults::default()
    });
    for _ in 0..5 {
        let mut runs = 0;
        while w.invite(args.clone()).await.is_err() {
            runs += 1;
            assert!(runs < 40, "no convergence");
        }
    }
    assert!(common::resets(&w.sim) > 0, "no write was cut off");
    w.sim.sim.faults.set(Faults::default());
    let users = w.client.users_with_email("Ops@A.example").await.unwrap();
    assert_eq!(users.len(), 1, "one user per email");
    let pk = users[0].pk;
    assert_eq!(w.members("operators").await, vec![pk]);
    // A second address with the same local part is another person.
    let other = w
        .invite(json!({"email": "ops@b.example", "name": "Other"}))
        .await
        .unwrap();
    assert_eq!(other.result["username"], "ops@b.example");
    assert_ne!(other.result["user_pk"], json!(pk));
    w.sim.stop().await;
}

#[tokio::test]
async fn a_tenant_invite_waits_for_the_tenant_and_joins_its_group() {
    let w = world().await;
    let args = json!({"email": "admin@acme.example", "name": "Admin", "tenant": "acme"});
    match w.invite(args.clone()).await {
        Err(JobError::Abort { class, .. }) => assert_eq!(class, "unknown_tenant"),
        other => panic!("an unknown tenant is refused: {other:?}"),
    }
    w.store
        .put_tenant("acme", "ACME", &json!({}), 1)
        .await
        .unwrap();
    assert!(
        matches!(w.invite(args.clone()).await, Err(JobError::Snooze(_))),
        "a tenant not provisioned yet makes the invite wait"
    );
    w.store
        .record_step("acme", "group", &json!({"status": "done"}), None, 2)
        .await
        .unwrap();
    let output = w.invite(args).await.unwrap();
    let pk = output.result["user_pk"].as_i64().unwrap();
    assert_eq!(w.members(&tenant_group("acme")).await, vec![pk]);
    let invitations = w.store.invitations("acme").await.unwrap();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].status, "delivered");
    w.sim.stop().await;
}

#[tokio::test]
async fn the_password_fallback_is_used_only_when_allowed() {
    let w = world().await;
    // A recovery flow no anonymous planner can use: no link can be made.
    let flow = w
        .client
        .create_flow(&NewFlow {
            name: "Locked".into(),
            slug: "locked-recovery".into(),
            title: "Locked".into(),
            designation: "recovery".into(),
            authentication: Some("require_authenticated".into()),
        })
        .await
        .unwrap();
    for brand in w.client.brands(false).await.unwrap() {
        w.client
            .set_brand_recovery_flow(&brand.brand_uuid, Some(&flow.pk))
            .await
            .unwrap();
    }
    let args = json!({"email": "late@acme.example", "name": "Late"});
    assert!(
        matches!(w.invite(args.clone()).await, Err(JobError::Abort { .. })),
        "without the fallback, no link is a failure"
    );
    let allowed = InviteSettings {
        password_fallback: true,
        ..InviteSettings::default()
    };
    let output = w.invite_with(args, allowed).await.unwrap();
    assert_eq!(output.result["delivery"], "temporary_password");
    let password = output.secret.as_ref().unwrap()["temporary_password"]
        .as_str()
        .unwrap();
    assert!(password.len() >= 20);
    let user = w
        .client
        .user(output.result["user_pk"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(user.attributes["passwordExpired"], true);
    assert!(user.attributes["passwordExpiredAt"].is_i64());
    w.sim.stop().await;
}

#[tokio::test]
async fn email_delivery_needs_its_stage_configured() {
    let w = world().await;
    let args = json!({"email": "a@acme.example", "name": "A", "delivery": "email"});
    match w.invite(args).await {
        Err(JobError::Abort { class, message }) => {
            assert_eq!(class, "misconfigured");
            assert!(message.contains("DEZKY_INVITE_EMAIL_STAGE"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        w.invite(json!({"email": "not-an-address", "name": "B"}))
            .await
            .is_err()
    );
    w.sim.stop().await;
}

#[tokio::test]
async fn email_delivery_has_authentik_send_the_link_and_keeps_no_secret() {
    let mut config = SimConfig::new(TOKEN);
    config.email_stages = vec!["dezky-invite-email".into()];
    let w = world_with(config).await;
    let settings = InviteSettings {
        email_stage: Some("dezky-invite-email".into()),
        ..InviteSettings::default()
    };
    let args = json!({"email": "New.Ops@Acme.example", "name": "New", "delivery": "email"});
    let output = w.invite_with(args.clone(), settings.clone()).await.unwrap();
    assert!(output.secret.is_none(), "the link went by mail: {output:?}");
    assert_eq!(output.result["delivery"], "email");
    let mails = w.sim.sim.outbox();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"], "New.Ops@Acme.example");
    assert_eq!(mails[0]["stage"], "dezky-invite-email");
    assert!(
        mails[0]["link"]
            .as_str()
            .unwrap()
            .contains("/if/flow/default-dezky-recovery/?flow_token="),
        "through the seeded recovery flow: {mails:?}"
    );
    // A stage that is not an email stage is refused by Authentik: the job does not succeed.
    let wrong = InviteSettings {
        email_stage: Some("default-password-change-prompt".into()),
        ..InviteSettings::default()
    };
    assert!(w.invite_with(args, wrong).await.is_err());
    assert_eq!(w.sim.sim.outbox().len(), 1);
    w.sim.stop().await;
}

#[tokio::test]
async fn each_write_cut_off_in_turn_leaves_no_duplicate() {
    let args =
        json!({"email": "Ops@Acme.example", "name": "Ops", "groups": ["operators", "support"]});
    let clean = world().await;
    clean.invite(args.clone()).await.unwrap();
    let writes = common::writes(&clean.sim);
    assert!(
        writes >= 5,
        "user, groups, memberships, seeding, link: {writes}"
    );
    clean.sim.stop().await;
    for n in 1..=writes {
        let w = world().await;
        common::converge_with_write_cut(&w.sim, n, || w.invite(args.clone())).await;
        let again = w.invite(args.clone()).await.unwrap();
        assert!(again.secret.is_some(), "a link each run");
        let users = w
            .client
            .list_all::<Value>("/core/users/", &[("username", "ops@acme.example")])
            .await
            .unwrap();
        assert_eq!(users.len(), 1, "write {n}: one user");
        for group in ["operators", "support"] {
            assert_eq!(
                w.count::<Value>("/core/groups/", ("name", group)).await,
                1,
                "write {n}: one group {group}"
            );
            assert_eq!(
                w.members(group).await,
                vec![users[0]["pk"].as_i64().unwrap()],
                "write {n}: a member once"
            );
        }
        let flows = w
            .client
            .list_all::<Value>("/flows/instances/", &[("slug", "default-dezky-recovery")])
            .await
            .unwrap();
        assert_eq!(flows.len(), 1, "write {n}: one recovery flow");
        let bindings = w
            .client
            .list_all::<Value>(
                "/flows/bindings/",
                &[("target", flows[0]["pk"].as_str().unwrap())],
            )
            .await
            .unwrap();
        assert_eq!(
            bindings.len(),
            2,
            "write {n}: the two stages bound once: {bindings:?}"
        );
        w.sim.stop().await;
    }
}
