//! `seed-recovery-flow`: converges any starting state — no flow, a half-built one, or the unsafe
//! one an older seeder built — to the safe recovery flow of `shared/authentik/API-NOTES.md` §2
//! and §7:
//!
//! - flow `default-dezky-recovery`, designation `recovery`, authentication
//!   `require_unauthenticated`;
//! - the password-change prompt and write stages bound at 10 and 20, and **no identification
//!   stage** (it would let anyone name a user and set their password);
//! - a guard expression policy bound to both stage bindings, which pass only when the flow was
//!   started from a recovery token; the bindings evaluate it when the stage runs, not at plan
//!   time (`evaluate_on_plan: false`, `re_evaluate_policies: true`);
//! - the flow set as `flow_recovery` on every brand.
//!
//! Every step reads first and writes only what differs, each write safe to repeat (find or
//! create), so a rerun, or a retry after a write whose answer was lost, changes nothing more.
//! While the default blueprints have not applied (the password-change stages are missing), the
//! job waits. The result says what it did: `created`, `repaired` or `unchanged`, and which
//! brands it patched.

use std::time::Duration;

use dezky_authentik::client::models::{
    FlowStageBinding, NewExpressionPolicy, NewFlow, NewFlowStageBinding, NewPolicyBinding,
};
use dezky_authentik::{AuthentikClient, AuthentikError};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::output::Output;
use crate::registry::{JobKind, KindSettings};
use crate::services::Dependency;

/// The flow's slug.
pub const FLOW_SLUG: &str = "default-dezky-recovery";
/// The guard policy's name.
pub const GUARD_NAME: &str = "default-dezky-recovery-guard";
/// The guard: true only in a flow started from a recovery token.
pub const GUARD_EXPRESSION: &str = "return bool(request.context.get(\"is_restored\"))";
/// The stage that must never be in the flow.
pub const IDENTIFICATION_STAGE: &str = "default-authentication-identification";
/// The stages bound, in order.
pub const STAGES: [(&str, i64); 2] = [
    ("default-password-change-prompt", 10),
    ("default-password-change-write", 20),
];
/// How long to wait for the default blueprints before looking again.
const BLUEPRINT_WAIT: Duration = Duration::from_secs(15);

/// Seeds (or repairs) the recovery flow and sets it on every brand.
#[derive(Debug, Clone, Copy)]
pub struct SeedRecoveryFlow;

/// Arguments of `seed-recovery-flow`: none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedRecoveryFlowArgs {}

impl JobKind for SeedRecoveryFlow {
    type Args = SeedRecoveryFlowArgs;
    const NAME: &'static str = "seed-recovery-flow";

    fn settings(&self) -> KindSettings {
        KindSettings {
            needs: &[Dependency::Authentik],
            route: Some("POST /v1/seed/recovery-flow"),
            ..KindSettings::default()
        }
    }

    /// One seeding at a time: two would race on the flow's bindings and the brands.
    fn keys(&self, _args: &SeedRecoveryFlowArgs) -> Vec<String> {
        vec!["authentik:recovery-flow".into()]
    }

    async fn run(&self, ctx: JobContext, _args: SeedRecoveryFlowArgs) -> Result<Output, JobError> {
        let client = ctx.services.authentik()?;
        let report = seed(client).await?;
        Ok(report.to_json().into())
    }
}

/// What a seeding did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// The flow did not exist.
    pub created: bool,
    /// What was changed on an existing flow (its authentication, an identification binding
    /// dropped, a stage bound, a guard added or fixed, binding flags set).
    pub repairs: Vec<String>,
    /// Domains of the brands whose recovery flow was set.
    pub brands_patched: Vec<String>,
}

impl SeedReport {
    /// `created`, `repaired` or `unchanged`.
    pub fn status(&self) -> &'static str {
        if self.created {
            "created"
        } else if self.repairs.is_empty() && self.brands_patched.is_empty() {
            "unchanged"
        } else {
            "repaired"
        }
    }

    /// The job's result.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "flow": FLOW_SLUG,
            "status": self.status(),
            "repairs": self.repairs,
            "brands_patched": self.brands_patched,
        })
    }
}

/// Converges Authentik to the safe recovery flow (see the module's text).
pub async fn seed(client: &AuthentikClient) -> Result<SeedReport, JobError> {
    let mut report = SeedReport::default();
    let mut stages = Vec::with_capacity(STAGES.len());
    for (name, order) in STAGES {
        match client.stage_named(name).await {
            Ok(stage) => stages.push((stage.pk, order)),
            Err(AuthentikError::NotFound(_)) => {
                tracing::info!(stage = name, "default blueprints not applied yet; waiting");
                return Err(JobError::Snooze(BLUEPRINT_WAIT));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let flow = match client.flow(FLOW_SLUG).await {
        Ok(flow) => flow,
        Err(AuthentikError::NotFound(_)) => {
            report.created = true;
            client
                .find_or_create_flow(&NewFlow {
                    name: "Dezky recovery".into(),
                    slug: FLOW_SLUG.into(),
                    title: "Set your password".into(),
                    designation: "recovery".into(),
                    authentication: Some("require_unauthenticated".into()),
                })
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if flow.authentication.as_deref() != Some("require_unauthenticated") {
        client
            .set_flow_authentication(FLOW_SLUG, "require_unauthenticated")
            .await?;
        report.repairs.push("authentication".into());
    }

    // The hole first: no identification stage in this flow, at any order.
    let identification = match client.stage_named(IDENTIFICATION_STAGE).await {
        Ok(stage) => Some(stage.pk),
        Err(AuthentikError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let bindings = client.flow_bindings(&flow.pk).await?;
    for binding in &bindings {
        if identification.as_deref() == Some(binding.stage.as_str()) {
            match client.unbind_stage(&binding.pk).await {
                Ok(()) | Err(AuthentikError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            report.repairs.push("identification stage removed".into());
        }
    }

    let guard = client
        .find_or_create_expression_policy(&NewExpressionPolicy {
            name: GUARD_NAME.into(),
            expression: GUARD_EXPRESSION.into(),
        })
        .await?;
    if guard.expression.trim() != GUARD_EXPRESSION {
        client
            .set_policy_expression(&guard.pk, GUARD_EXPRESSION)
            .await?;
        report.repairs.push("guard expression".into());
    }

    for (stage, order) in stages {
        let binding = bind_once(client, &flow.pk, &bindings, &stage, order, &mut report).await?;
        guard_binding(client, &binding, &guard.pk, &mut report).await?;
    }

    for brand in client.brands(false).await? {
        if brand.flow_recovery.as_deref() != Some(flow.pk.as_str()) {
            client
                .set_brand_recovery_flow(&brand.brand_uuid, Some(&flow.pk))
                .await?;
            report.brands_patched.push(brand.domain);
        }
    }
    Ok(report)
}

/// The one binding of `stage` in the flow, at `order`: an existing one is kept (moved to
/// `order` if elsewhere), any other binding of the stage deleted, a missing one created.
async fn bind_once(
    client: &AuthentikClient,
    flow: &str,
    bindings: &[FlowStageBinding],
    stage: &str,
    order: i64,
    report: &mut SeedReport,
) -> Result<FlowStageBinding, JobError> {
    let mut of_stage = bindings.iter().filter(|b| b.stage == stage);
    let Some(kept) = of_stage.next() else {
        if !report.created {
            report.repairs.push(format!("stage bound at {order}"));
        }
        return Ok(client
            .find_or_bind_stage(&NewFlowStageBinding {
                target: flow.to_owned(),
                stage: stage.to_owned(),
                order,
                evaluate_on_plan: Some(false),
                re_evaluate_policies: Some(true),
            })
            .await?);
    };
    for extra in of_stage {
        match client.unbind_stage(&extra.pk).await {
            Ok(()) | Err(AuthentikError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        report
            .repairs
            .push(format!("duplicate binding at {} removed", extra.order));
    }
    if kept.order == order {
        return Ok(kept.clone());
    }
    report.repairs.push(format!("binding moved to {order}"));
    Ok(client
        .update_flow_binding(&kept.pk, &serde_json::json!({ "order": order }))
        .await?)
}

/// Makes `binding` evaluate the guard when its stage runs, and binds the guard to it.
async fn guard_binding(
    client: &AuthentikClient,
    binding: &FlowStageBinding,
    guard: &str,
    report: &mut SeedReport,
) -> Result<(), JobError> {
    if binding.evaluate_on_plan || !binding.re_evaluate_policies {
        client
            .update_flow_binding(
                &binding.pk,
                &serde_json::json!({ "evaluate_on_plan": false, "re_evaluate_policies": true }),
            )
            .await?;
        report
            .repairs
            .push(format!("policy flags of the binding at {}", binding.order));
    }
    let guarded = client
        .policy_bindings(&binding.pk)
        .await?
        .iter()
        .any(|b| b.policy.as_deref() == Some(guard));
    if !guarded {
        client
            .find_or_bind_policy(&NewPolicyBinding {
                target: binding.pk.clone(),
                policy: Some(guard.to_owned()),
                group: None,
                order: 0,
            })
            .await?;
        if !report.created {
            report
                .repairs
                .push(format!("guard bound at {}", binding.order));
        }
    }
    Ok(())
}
