//! `provision-tenant` against the simulator: from an empty instance and from a half-done one it
//! reaches the same end state — one brand for the domain with its flows, one group, one provider
//! with each redirect URI once, one application, one group → application binding — and a rerun,
//! or a run whose writes are cut off after they applied, adds nothing. Each step is recorded in
//! the store; the client secret is the secret result; an admin is invited as a child job. And
//! `reconcile-tenants` over it: a drifted tenant is found and enqueued once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use std::sync::Arc;

use dezky_authentik::client::models::{
    Brand, Group, NewBrand, NewGroup, OAuth2Provider, PolicyBinding,
};
mod common;

use dezky_authentik::AuthentikClient;
use dezky_authentik_sim::faults::Faults;
use dezky_authentik_sim::{SimConfig, Simulator};
use dezky_jobs::kinds::tenant::{STEPS, tenant_group, tenant_object};
use dezky_jobs::{JobContext, JobError, Output, Services};
use dezky_queue::{DynQueue, JobFilter};
use dezky_store::Store;
use serde_json::{Value, json};

const TOKEN: &str = "sim-tenant-token";

struct World {
    sim: Simulator,
    client: AuthentikClient,
    store: Store,
    queue: DynQueue,
    /// The job every run is an attempt of.
    job_id: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (sim, client) = common::simulator(SimConfig::new(TOKEN), TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = common::store_in(&dir).await;
    let queue: DynQueue = Arc::new(
        dezky_queue::sqlite::SqliteQueue::open_default(&url)
            .await
            .unwrap(),
    );
    let job_id = queue
        .push(dezky_queue::NewJob::new("provision-tenant", json!({})))
        .await
        .unwrap()
        .id
        .0;
    World {
        sim,
        client,
        store,
        queue,
        job_id,
        _dir: dir,
    }
}

fn acme() -> Value {
    json!({
        "slug": "acme", "name": "ACME", "domain": "auth.acme.example",
        "redirect_uris": ["https://mail.acme.example/oidc", "https://mail.acme.example/oidc",
                          "https://files.acme.example/oidc"],
    })
}

impl World {
    async fn provision(&self, args: Value) -> Result<Output, JobError> {
        self.run("provision-tenant", args, self.job_id.clone())
            .await
    }

    /// What `PUT /v1/tenants/{slug}` does: stores the desired state, then provisions.
    async fn put(&self, args: Value) -> Result<Output, JobError> {
        self.store
            .put_tenant(
                args["slug"].as_str().unwrap(),
                args["name"].as_str().unwrap(),
                &args,
                0,
            )
            .await
            .unwrap();
        self.provision(args).await
    }

    /// Runs `reconcile-tenants` as a job of its own; answers its result.
    async fn reconcile(&self) -> Value {
        let id = self
            .queue
            .push(dezky_queue::NewJob::new("reconcile-tenants", json!({})))
            .await
            .unwrap()
            .id
            .0;
        self.run("reconcile-tenants", json!({}), id)
            .await
            .unwrap()
            .result
    }

    /// Runs `kind` with `args` as an attempt of job `id`.
    async fn run(&self, kind: &str, args: Value, id: String) -> Result<Output, JobError> {
        let registry = dezky_jobs::kinds::registry(false);
        let kind = registry.get(kind).unwrap().clone();
        let (mut ctx, _stop) = JobContext::detached(kind.name());
        ctx.id = id;
        ctx.services = Services {
            authentik: Some(self.client.clone()),
            store: Some(self.store.clone()),
            children: Some((self.queue.clone(), registry)),
            ..Services::default()
        };
        kind.prepare(args)?.run(ctx).await
    }

    async fn count<T: serde::de::DeserializeOwned>(&self, path: &str, q: (&str, &str)) -> usize {
        self.client.list_all::<T>(path, &[q]).await.unwrap().len()
    }

    /// One of each object, each as `desired` (a tenant `acme`) has it.
    async fn assert_converged(&self, desired: &Value) {
        let domain = "auth.acme.example";
        assert_eq!(
            self.count::<Brand>("/core/brands/", ("domain", domain))
                .await,
            1
        );
        let brand = self.client.brand_for_domain(domain).await.unwrap().unwrap();
        for (flow, slug) in [
            (&brand.flow_authentication, "default-authentication-flow"),
            (&brand.flow_invalidation, "default-invalidation-flow"),
            (&brand.flow_user_settings, "default-user-settings-flow"),
            (&brand.flow_recovery, "default-dezky-recovery"),
        ] {
            let pk = self.client.flow(slug).await.unwrap().pk;
            assert_eq!(flow.as_deref(), Some(pk.as_str()), "{slug} on the brand");
        }
        let group_name = tenant_group("acme");
        assert_eq!(
            self.count::<Group>("/core/groups/", ("name", &group_name))
                .await,
            1
        );
        let name = tenant_object("acme");
        assert_eq!(
            self.count::<OAuth2Provider>("/providers/oauth2/", ("name", &name))
                .await,
            1
        );
        let provider: Value = self
            .client
            .list_all::<Value>("/providers/oauth2/", &[("name", &name)])
            .await
            .unwrap()
            .remove(0);
        let uris: Vec<&str> = provider["redirect_uris"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["url"].as_str().unwrap())
            .collect();
        let mut wanted: Vec<&str> = Vec::new();
        for uri in desired["redirect_uris"].as_array().unwrap() {
            if !wanted.contains(&uri.as_str().unwrap()) {
                wanted.push(uri.as_str().unwrap());
            }
        }
        assert_eq!(uris, wanted, "each redirect URI once");
        let app = self.client.application(&name).await.unwrap().unwrap();
        assert_eq!(app.provider, provider["pk"].as_i64());
        assert_eq!(app.name, desired["name"].as_str().unwrap());
        assert_eq!(
            self.count::<Value>("/core/applications/", ("slug", &name))
                .await,
            1
        );
        let group = self.client.group_named(&group_name).await.unwrap().unwrap();
        let bindings = self
            .client
            .list_all::<PolicyBinding>("/policies/bindings/", &[("target", &app.pk)])
            .await
            .unwrap();
        assert_eq!(bindings.len(), 1, "one binding: {bindings:?}");
        assert_eq!(bindings[0].group.as_deref(), Some(group.pk.as_str()));
        let tenant = self.store.tenant("acme").await.unwrap().unwrap();
        for step in STEPS {
            assert_eq!(tenant.steps.0[step.name()]["status"], "done", "{step:?}");
        }
        assert_eq!(tenant.authentik.0["group"], json!(group.pk));
    }
}

#[tokio::test]
async fn from_an_empty_instance_and_again_one_of_each() {
    let w = world().await;
    let first = w.provision(acme()).await.unwrap();
    let secret = first.secret.as_ref().unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!secret.is_empty());
    assert!(
        !first.result.to_string().contains(&secret),
        "the secret is apart"
    );
    assert!(first.result["client_id"].is_string());
    w.assert_converged(&acme()).await;
    let second = w.provision(acme()).await.unwrap();
    assert_eq!(
        second.result["ids"], first.result["ids"],
        "the same objects"
    );
    w.assert_converged(&acme()).await;
    w.sim.stop().await;
}

#[tokio::test]
async fn from_a_half_done_instance_it_finishes_and_fixes_the_brand() {
    let w = world().await;
    w.client
        .find_or_create_group(&NewGroup {
            name: tenant_group("acme"),
        })
        .await
        .unwrap();
    w.client
        .find_or_create_brand(&NewBrand {
            domain: "auth.acme.example".into(),
            flow_authentication: None,
            flow_invalidation: None,
            flow_recovery: None,
            flow_user_settings: None,
        })
        .await
        .unwrap();
    w.provision(acme()).await.unwrap();
    w.assert_converged(&acme()).await;
    w.sim.stop().await;
}

#[tokio::test]
async fn writes_cut_off_after_they_applied_leave_no_duplicate() {
    let w = world().await;
    w.sim.sim.faults.set(Faults {
        reset_after_commit_rate: 0.5,
        ..Faults::default()
    });
    for _ in 0..3 {
        let mut runs = 0;
        loop {
            match w.provision(acme()).await {
                Ok(_) => break,
                Err(JobError::Unavailable { .. }) => runs += 1,
                Err(e) => panic!("unexpected failure: {e}"),
            }
            assert!(runs < 60, "no convergence");
        }
    }
    assert!(common::resets(&w.sim) > 0, "no write was cut off");
    w.sim.sim.faults.set(Faults::default());
    w.assert_converged(&acme()).await;
    w.sim.stop().await;
}

#[tokio::test]
async fn an_admin_is_invited_as_a_child_job() {
    let w = world().await;
    let mut args = acme();
    args["admin_email"] = json!("admin@acme.example");
    w.provision(args.clone()).await.unwrap();
    w.provision(args).await.unwrap();
    let invites = w
        .queue
        .list(JobFilter {
            kind: Some("invite-operator".into()),
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(invites.jobs.len(), 1, "one invite, however many runs");
    assert_eq!(invites.jobs[0].args["tenant"], "acme");
    w.sim.stop().await;
}

#[tokio::test]
async fn reconciliation_enqueues_a_drifted_tenant_once() {
    let w = world().await;
    w.provision(acme()).await.unwrap();
    let clean = w.reconcile().await;
    assert_eq!(
        (&clean["checked"], &clean["drifted"], &clean["enqueued"]),
        (&json!(1), &json!(0), &json!(0)),
        "{clean}"
    );
    // Someone removes the binding that keeps other users out of the tenant's application.
    let app = w
        .client
        .application(&tenant_object("acme"))
        .await
        .unwrap()
        .unwrap();
    let binding = w
        .client
        .list_all::<PolicyBinding>("/policies/bindings/", &[("target", &app.pk)])
        .await
        .unwrap()
        .remove(0);
    w.client.delete_policy_binding(&binding.pk).await.unwrap();
    let found = w.reconcile().await;
    assert_eq!(found["drifted"], 1, "{found}");
    assert_eq!(found["enqueued"], 1, "{found}");
    assert_eq!(found["drift"]["acme"], json!(["access binding"]));
    let again = w.reconcile().await;
    assert_eq!(
        again["enqueued"], 0,
        "an overlapping run enqueues nothing more: {again}"
    );
    let queued = w
        .queue
        .list(JobFilter {
            kind: Some("provision-tenant".into()),
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    // The world's own job plus the one reconciliation enqueued.
    assert_eq!(queued.jobs.len(), 2);
    w.provision(acme()).await.unwrap();
    assert_eq!(w.reconcile().await["drifted"], 0);
    w.sim.stop().await;
}

#[tokio::test]
async fn a_changed_desired_state_converges_on_the_next_run() {
    let w = world().await;
    w.provision(acme()).await.unwrap();
    let mut changed = acme();
    changed["name"] = json!("ACME Ltd");
    changed["redirect_uris"] = json!(["https://mail.acme.example/oidc/v2"]);
    w.put(changed.clone()).await.unwrap();
    w.assert_converged(&changed).await;
    // A job of the older state, run late (queued before the change, or retried after it),
    // converges to the newest state, not back to its own arguments.
    let late = w.provision(acme()).await.unwrap();
    assert_eq!(late.result["tenant"], "acme");
    w.assert_converged(&changed).await;
    // Someone edits the provider and unplugs the application by hand: the next run repairs both.
    let name = tenant_object("acme");
    let provider = w
        .client
        .oauth2_provider_named(&name)
        .await
        .unwrap()
        .unwrap();
    w.client
        .update_oauth2_provider(
            provider.pk,
            &json!({"redirect_uris": [{"matching_mode": "regex", "url": ".*"},
                                      {"matching_mode": "strict", "url": "https://mail.acme.example/oidc/v2"}]}),
        )
        .await
        .unwrap();
    w.client
        .update_application(&name, &json!({"provider": null}))
        .await
        .unwrap();
    let found = w.reconcile().await;
    assert_eq!(
        found["drift"]["acme"],
        json!(["redirect URIs", "application provider"]),
        "{found}"
    );
    w.provision(changed.clone()).await.unwrap();
    w.assert_converged(&changed).await;
    assert_eq!(w.reconcile().await["drifted"], 0);
    w.sim.stop().await;
}

#[tokio::test]
async fn each_write_cut_off_in_turn_leaves_no_duplicate() {
    let clean = world().await;
    clean.provision(acme()).await.unwrap();
    let writes = common::writes(&clean.sim);
    assert!(
        writes >= 10,
        "a clean run writes the flow and the tenant: {writes}"
    );
    clean.sim.stop().await;
    for n in 1..=writes {
        let w = world().await;
        common::converge_with_write_cut(&w.sim, n, || w.provision(acme())).await;
        w.provision(acme()).await.unwrap();
        w.assert_converged(&acme()).await;
        w.sim.stop().await;
    }
}
