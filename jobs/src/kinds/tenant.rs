//! `provision-tenant`: an isolated OIDC tenant in Authentik (API-NOTES §4) — a brand for the
//! tenant's domain, a group, an OAuth2/OpenID provider, an application, and the binding group →
//! application (without it every Authentik user could sign in). The steps are data
//! ([`STEPS`]), run in order; each finds or creates its object under a deterministic name and is
//! recorded in the store when done, with the object's id. With `admin_email`, the last step
//! enqueues `invite-operator` for that person into the tenant's group. The result holds the
//! object ids and the OIDC client id; the client secret is the secret result.

use dezky_authentik::client::models::{
    Brand, NewApplication, NewBrand, NewGroup, NewOAuth2Provider, NewPolicyBinding, OAuth2Provider,
    RedirectUri,
};
use dezky_authentik::{AuthentikClient, AuthentikError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::kinds::{now_ms, recovery, validate};
use crate::output::{Output, StoreWrite};
use crate::registry::{JobKind, KindSettings};
use crate::services::Dependency;

/// The steps, in order.
pub const STEPS: [Step; 6] = [
    Step::Brand,
    Step::Group,
    Step::Provider,
    Step::Application,
    Step::Access,
    Step::Admin,
];

/// One step of provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The brand for the tenant's domain, with its flows.
    Brand,
    /// The tenant's group.
    Group,
    /// The OAuth2/OpenID provider.
    Provider,
    /// The application.
    Application,
    /// The policy binding group → application.
    Access,
    /// The invite of the tenant's first admin, if asked.
    Admin,
}

impl Step {
    /// Its name, in the store.
    pub fn name(self) -> &'static str {
        match self {
            Step::Brand => "brand",
            Step::Group => "group",
            Step::Provider => "provider",
            Step::Application => "application",
            Step::Access => "access",
            Step::Admin => "admin",
        }
    }
}

/// The flows a tenant's brand carries, by slug — authentication, invalidation, user settings,
/// recovery — in the order [`brand_flows`] reads them.
pub const BRAND_FLOWS: [&str; 4] = [
    "default-authentication-flow",
    "default-invalidation-flow",
    "default-user-settings-flow",
    recovery::FLOW_SLUG,
];

/// A brand's flows (their pks), in the order of [`BRAND_FLOWS`].
pub fn brand_flows(brand: &Brand) -> [Option<String>; 4] {
    [
        brand.flow_authentication.clone(),
        brand.flow_invalidation.clone(),
        brand.flow_user_settings.clone(),
        brand.flow_recovery.clone(),
    ]
}

/// The redirect URIs tenant `args` wants, each once, in the order given.
pub fn wanted_redirect_uris(args: &ProvisionTenantArgs) -> Vec<String> {
    let mut uris: Vec<String> = Vec::new();
    for uri in &args.redirect_uris {
        if !uris.contains(&uri.0) {
            uris.push(uri.0.clone());
        }
    }
    uris
}

/// Whether a provider's redirect URIs are `wanted`, each once and matched strictly (order
/// aside): a looser matching mode, a repeat or an extra one is drift.
pub fn redirect_uris_match(have: &[RedirectUri], wanted: &[String]) -> bool {
    let mut have: Vec<(&str, &str)> = have
        .iter()
        .map(|u| (u.matching_mode.as_str(), u.url.as_str()))
        .collect();
    let mut wanted: Vec<(&str, &str)> = wanted.iter().map(|u| ("strict", u.as_str())).collect();
    have.sort_unstable();
    wanted.sort_unstable();
    have == wanted // `wanted` holds each once: a repeated URI is drift too
}

fn strict(uris: &[String]) -> Vec<RedirectUri> {
    uris.iter()
        .map(|url| RedirectUri {
            matching_mode: "strict".into(),
            url: url.clone(),
        })
        .collect()
}

/// The Authentik group of tenant `slug`.
pub fn tenant_group(slug: &str) -> String {
    format!("{}{slug}", validate::TENANT_GROUP_PREFIX)
}

/// The name of tenant `slug`'s provider and the slug of its application.
pub fn tenant_object(slug: &str) -> String {
    format!("dezky-tenant-{slug}")
}

/// Provisions a tenant.
#[derive(Debug, Clone, Copy)]
pub struct ProvisionTenant;

/// Arguments of `provision-tenant`: the tenant's desired state.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisionTenantArgs {
    /// URL-safe, unique: `^[a-z0-9][a-z0-9-]{0,62}$`.
    #[serde(deserialize_with = "validate::slug")]
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub slug: String,
    /// For people.
    #[serde(deserialize_with = "validate::name")]
    #[schema(max_length = 200)]
    pub name: String,
    /// The host the tenant's users reach Authentik at (the brand's domain), lowercase.
    #[serde(deserialize_with = "validate::domain")]
    #[schema(
        max_length = 253,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
    )]
    pub domain: String,
    /// Where the OIDC client may be sent back to: 1 to 20 `http(s)://` URIs.
    #[serde(deserialize_with = "validate::redirect_uris")]
    #[schema(min_items = 1, max_items = 20, inline)]
    pub redirect_uris: Vec<validate::RedirectUriArg>,
    /// The tenant's first admin, invited once it exists.
    #[serde(default, deserialize_with = "validate::optional_email")]
    #[schema(max_length = 150, pattern = "^[^@ \\t\\r\\n]+@[^@ \\t\\r\\n]+$")]
    pub admin_email: Option<String>,
}

impl JobKind for ProvisionTenant {
    type Args = ProvisionTenantArgs;
    const NAME: &'static str = "provision-tenant";

    fn settings(&self) -> KindSettings {
        KindSettings {
            needs: &[Dependency::Authentik],
            route: Some("POST /v1/tenants (or PUT /v1/tenants/{slug})"),
            ..KindSettings::default()
        }
    }

    fn keys(&self, args: &ProvisionTenantArgs) -> Vec<String> {
        vec![format!("tenant:{}", args.slug)]
    }

    async fn run(&self, ctx: JobContext, args: ProvisionTenantArgs) -> Result<Output, JobError> {
        let client = ctx.services.authentik()?;
        let store = ctx.services.store()?;
        let args = latest_desired(&ctx, store, args).await?;
        let mut run = Provisioning {
            client,
            ctx: &ctx,
            args: &args,
            ids: serde_json::Map::new(),
            group: None,
            provider: None,
            application: None,
        };
        for step in STEPS {
            let id = run.step(step).await?;
            // The step is recorded by the run that holds the job, naming it.
            ctx.services.may_write()?;
            let record =
                serde_json::json!({ "status": "done", "at": now_ms(), "run": ctx.services.run });
            let role = id.as_ref().map(|id| (step.name(), id.as_str()));
            store
                .record_step(&args.slug, step.name(), &record, role, now_ms())
                .await
                .map_err(store_error)?;
            if let Some(id) = id {
                run.ids.insert(step.name().into(), id.into());
            }
        }
        let provider = run
            .provider
            .as_ref()
            .ok_or_else(|| JobError::abort("no provider"))?;
        let result = serde_json::json!({
            "tenant": args.slug,
            "ids": run.ids,
            "client_id": provider.client_id,
        });
        // The tenant is recorded provisioned with the success itself: in the transaction that
        // records it when the queue is in the store's database, so never by a run whose success
        // was not recorded (one that lost its lease, or died just before).
        let provisioned = StoreWrite::Step {
            slug: args.slug.clone(),
            step: PROVISIONED.into(),
            record: serde_json::json!({ "status": "done", "at": now_ms(), "run": ctx.services.run }),
        };
        Ok(Output::with_secret(
            result,
            serde_json::json!({ "client_secret": provider.client_secret.expose_secret() }),
        )
        .with_write(provisioned))
    }
}

/// The step record a successful run adds once every step is done.
pub const PROVISIONED: &str = "provisioned";

/// The state to converge to: the tenant's desired state as stored now, which the routes write
/// before they enqueue — so a job enqueued by an older `PUT`, or retried after a newer one,
/// converges to the newest, never back to its own arguments. A tenant not stored yet is stored
/// with the job's arguments.
async fn latest_desired(
    ctx: &JobContext,
    store: &dezky_store::Store,
    args: ProvisionTenantArgs,
) -> Result<ProvisionTenantArgs, JobError> {
    let stored = store.tenant(&args.slug).await.map_err(store_error)?;
    if let Some(tenant) = stored {
        match ProvisionTenantArgs::deserialize(&tenant.desired.0) {
            Ok(latest) => return Ok(latest),
            Err(e) => {
                tracing::warn!(tenant = %args.slug, error = %e, "stored desired state does not parse; the job's arguments are used")
            }
        }
    }
    let desired = serde_json::to_value(&args).unwrap_or_default();
    ctx.services.may_write()?;
    store
        .put_tenant(&args.slug, &args.name, &desired, now_ms())
        .await
        .map_err(store_error)?;
    Ok(args)
}

/// One run's progress.
struct Provisioning<'a> {
    client: &'a AuthentikClient,
    ctx: &'a JobContext,
    args: &'a ProvisionTenantArgs,
    ids: serde_json::Map<String, serde_json::Value>,
    group: Option<String>,
    provider: Option<OAuth2Provider>,
    application: Option<String>,
}

impl Provisioning<'_> {
    /// Runs `step`; answers the id of the object it stands for, if any.
    async fn step(&mut self, step: Step) -> Result<Option<String>, JobError> {
        let client = self.client;
        match step {
            Step::Brand => {
                let mut wanted: [Option<String>; 4] = Default::default();
                for (slot, slug) in wanted.iter_mut().zip(BRAND_FLOWS) {
                    *slot = Some(if slug == recovery::FLOW_SLUG {
                        recovery_flow_pk(client).await?
                    } else {
                        flow_pk(client, slug).await?
                    });
                }
                let [authentication, invalidation, user_settings, recovery] = wanted.clone();
                let brand = client
                    .find_or_create_brand(&NewBrand {
                        domain: self.args.domain.clone(),
                        flow_authentication: authentication.clone(),
                        flow_invalidation: invalidation.clone(),
                        flow_recovery: recovery.clone(),
                        flow_user_settings: user_settings.clone(),
                    })
                    .await?;
                // A brand found (made earlier, or by hand) may carry other flows.
                if brand_flows(&brand) != wanted {
                    let flows = serde_json::json!({
                        "flow_authentication": authentication,
                        "flow_invalidation": invalidation,
                        "flow_recovery": recovery,
                        "flow_user_settings": user_settings,
                    });
                    client.update_brand(&brand.brand_uuid, &flows).await?;
                }
                Ok(Some(brand.brand_uuid))
            }
            Step::Group => {
                let group = client
                    .find_or_create_group(&NewGroup {
                        name: tenant_group(&self.args.slug),
                    })
                    .await?;
                self.group = Some(group.pk.clone());
                Ok(Some(group.pk))
            }
            Step::Provider => {
                let mappings = client
                    .scope_mappings(&[
                        "goauthentik.io/providers/oauth2/scope-openid",
                        "goauthentik.io/providers/oauth2/scope-email",
                        "goauthentik.io/providers/oauth2/scope-profile",
                    ])
                    .await?;
                let signing_key = client
                    .certificate_named("authentik Self-signed Certificate")
                    .await?
                    .map(|c| c.pk);
                let uris = wanted_redirect_uris(self.args);
                let mut provider = client
                    .find_or_create_oauth2_provider(&NewOAuth2Provider {
                        name: tenant_object(&self.args.slug),
                        authorization_flow: flow_pk(
                            client,
                            "default-provider-authorization-implicit-consent",
                        )
                        .await?,
                        invalidation_flow: flow_pk(client, "default-provider-invalidation-flow")
                            .await?,
                        redirect_uris: strict(&uris),
                        property_mappings: mappings.into_iter().map(|m| m.pk).collect(),
                        signing_key,
                    })
                    .await?;
                // A provider found (made by an earlier desired state) may send users elsewhere.
                if !redirect_uris_match(&provider.redirect_uris, &uris) {
                    let changes = serde_json::json!({ "redirect_uris": strict(&uris) });
                    provider = client.update_oauth2_provider(provider.pk, &changes).await?;
                }
                let id = provider.pk.to_string();
                self.provider = Some(provider);
                Ok(Some(id))
            }
            Step::Application => {
                let provider = self.provider.as_ref().map(|p| p.pk);
                let slug = tenant_object(&self.args.slug);
                let mut application = client
                    .find_or_create_application(&NewApplication {
                        name: self.args.name.clone(),
                        slug: slug.clone(),
                        provider,
                        meta_launch_url: None,
                    })
                    .await?;
                // One found may carry an older name, or have lost its provider.
                if application.provider != provider || application.name != self.args.name {
                    let changes =
                        serde_json::json!({ "name": self.args.name, "provider": provider });
                    application = client.update_application(&slug, &changes).await?;
                }
                self.application = Some(application.pk.clone());
                Ok(Some(application.pk))
            }
            Step::Access => {
                let (Some(application), Some(group)) = (&self.application, &self.group) else {
                    return Err(JobError::abort("access before the application and group"));
                };
                let binding = client
                    .find_or_bind_policy(&NewPolicyBinding {
                        target: application.clone(),
                        policy: None,
                        group: Some(group.clone()),
                        order: 0,
                    })
                    .await?;
                Ok(Some(binding.pk))
            }
            Step::Admin => {
                let Some(email) = &self.args.admin_email else {
                    return Ok(None);
                };
                // The child's id is in the result's `children`; no Authentik id to record.
                self.ctx
                    .enqueue_child(
                        "admin",
                        "invite-operator",
                        serde_json::json!({
                            "email": email,
                            "name": email,
                            "tenant": self.args.slug,
                        }),
                    )
                    .await?;
                Ok(None)
            }
        }
    }
}

/// The recovery flow's pk, seeding it first if it does not exist.
async fn recovery_flow_pk(client: &AuthentikClient) -> Result<String, JobError> {
    match client.flow(recovery::FLOW_SLUG).await {
        Ok(flow) => Ok(flow.pk),
        Err(AuthentikError::NotFound(_)) => {
            recovery::seed(client).await?;
            Ok(client.flow(recovery::FLOW_SLUG).await?.pk)
        }
        Err(e) => Err(e.into()),
    }
}

async fn flow_pk(client: &AuthentikClient, slug: &str) -> Result<String, JobError> {
    match client.flow(slug).await {
        Ok(flow) => Ok(flow.pk),
        Err(AuthentikError::NotFound(_)) => {
            tracing::info!(flow = slug, "default blueprints not applied yet; waiting");
            Err(JobError::Snooze(std::time::Duration::from_secs(15)))
        }
        Err(e) => Err(e.into()),
    }
}

fn store_error(e: dezky_store::StoreError) -> JobError {
    JobError::retry(format!("cannot record the tenant: {e}"))
}
