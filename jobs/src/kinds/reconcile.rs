//! `reconcile-tenants`: for every tenant in the store, checks that Authentik still matches its
//! desired state — the brand and its flows, the group, the provider and its redirect URIs, the
//! application and its provider, the group → application binding — and enqueues
//! `provision-tenant` for each tenant that drifted, under a key of the tenant, so overlapping
//! reconciliations enqueue it once. The result counts the tenants checked, drifted and
//! enqueued, and says what drifted.

use dezky_authentik::{AuthentikClient, AuthentikError};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::kinds::tenant::{
    BRAND_FLOWS, ProvisionTenantArgs, brand_flows, redirect_uris_match, tenant_group,
    tenant_object, wanted_redirect_uris,
};
use crate::output::Output;
use crate::registry::{JobKind, KindSettings};
use crate::services::Dependency;

/// Tenants read from the store per page.
const PAGE: u32 = 100;

/// Reconciles every tenant.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileTenants;

/// Arguments of `reconcile-tenants`: none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileTenantsArgs {}

impl JobKind for ReconcileTenants {
    type Args = ReconcileTenantsArgs;
    const NAME: &'static str = "reconcile-tenants";

    fn settings(&self) -> KindSettings {
        KindSettings {
            needs: &[Dependency::Authentik],
            ..KindSettings::default()
        }
    }

    async fn run(&self, ctx: JobContext, _args: ReconcileTenantsArgs) -> Result<Output, JobError> {
        let client = ctx.services.authentik()?;
        let store = ctx.services.store()?;
        let (mut checked, mut enqueued) = (0u64, 0u64);
        let mut drifted = serde_json::Map::new();
        let mut after = String::new();
        loop {
            let page = store
                .tenants(&after, PAGE)
                .await
                .map_err(|e| JobError::retry(format!("cannot read the tenants: {e}")))?;
            let Some(last) = page.last() else { break };
            after = last.slug.clone();
            for tenant in &page {
                checked += 1;
                let Ok(desired) = ProvisionTenantArgs::deserialize(&tenant.desired.0) else {
                    tracing::warn!(tenant = %tenant.slug, "desired state does not parse; skipped");
                    continue;
                };
                let drift = drift(client, &desired).await?;
                if drift.is_empty() {
                    continue;
                }
                let (_, already) = ctx
                    .enqueue_child_once(
                        &format!("provision-tenant:{}", tenant.slug),
                        "provision-tenant",
                        tenant.desired.0.clone(),
                        Some(tenant.slug.clone()),
                    )
                    .await?;
                enqueued += u64::from(!already);
                drifted.insert(tenant.slug.clone(), drift.into());
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(serde_json::json!({
            "checked": checked,
            "drifted": drifted.len(),
            "enqueued": enqueued,
            "drift": drifted,
        })
        .into())
    }
}

/// What of tenant `args` Authentik does not match (empty: all of it does).
pub async fn drift(
    client: &AuthentikClient,
    args: &ProvisionTenantArgs,
) -> Result<Vec<&'static str>, JobError> {
    let mut drift = Vec::new();
    match client.brand_for_domain(&args.domain).await? {
        None => drift.push("brand"),
        Some(brand) => {
            for (have, slug) in brand_flows(&brand).into_iter().zip(BRAND_FLOWS) {
                let pk = match client.flow(slug).await {
                    Ok(flow) => Some(flow.pk),
                    Err(AuthentikError::NotFound(_)) => None,
                    Err(e) => return Err(e.into()),
                };
                if pk.is_none() || have != pk {
                    drift.push("brand flows");
                    break;
                }
            }
        }
    }
    let group = client.group_named(&tenant_group(&args.slug)).await?;
    if group.is_none() {
        drift.push("group");
    }
    let name = tenant_object(&args.slug);
    let provider = client.oauth2_provider_named(&name).await?;
    match &provider {
        None => drift.push("provider"),
        Some(provider) => {
            if !redirect_uris_match(&provider.redirect_uris, &wanted_redirect_uris(args)) {
                drift.push("redirect URIs");
            }
        }
    }
    match client.application(&name).await? {
        None => drift.push("application"),
        Some(application) => {
            if application.provider != provider.as_ref().map(|p| p.pk) {
                drift.push("application provider");
            }
            if application.name != args.name {
                drift.push("application name");
            }
            if let Some(group) = &group {
                let bound = client
                    .policy_bindings(&application.pk)
                    .await?
                    .iter()
                    .any(|b| b.group.as_deref() == Some(group.pk.as_str()));
                if !bound {
                    drift.push("access binding");
                }
            }
        }
    }
    Ok(drift)
}
