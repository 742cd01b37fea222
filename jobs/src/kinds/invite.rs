//! `invite-operator`: a person gets an Authentik account and a way in (API-NOTES §3).
//!
//! The user is found or created under the whole email, lowercased, as username (so
//! `ops@a.example` and `ops@b.example` never collide), added to the named groups and, with a
//! tenant, to the tenant's group — an invite into a tenant whose group is not provisioned yet
//! waits for it. Then the invite is delivered: `link` (default) makes a recovery link, the job's
//! secret result; `email` has Authentik send it through the email stage named by
//! `DEZKY_INVITE_EMAIL_STAGE` (no secret in the result). "No recovery flow set." runs the
//! recovery-flow seeding once and tries again. With `DEZKY_INVITE_PASSWORD_FALLBACK=true` only,
//! when no link can be made, a random temporary password is set (a secret result) and marked
//! expired in the user's attributes — which Authentik itself does not enforce.
//!
//! Every write is safe to repeat: find or create, `add_user` (a member added twice stays one),
//! a new link each run (the last one is the result).

use dezky_authentik::client::models::{NewGroup, NewUser, User};
use dezky_authentik::{AuthentikClient, AuthentikError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::context::JobContext;
use crate::error::JobError;
use crate::kinds::tenant::tenant_group;
use crate::kinds::{now_ms, recovery, validate};
use crate::output::Output;
use crate::registry::{JobKind, KindSettings};
use crate::services::Dependency;

/// Characters of a temporary password.
const TEMPORARY_PASSWORD_LEN: usize = 24;
/// How long an invite into a tenant not provisioned yet waits before looking again.
const TENANT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How invites are delivered, as configured.
#[derive(Debug, Clone, Default)]
pub struct InviteSettings {
    /// The email stage `email` delivery sends through (`DEZKY_INVITE_EMAIL_STAGE`).
    pub email_stage: Option<String>,
    /// Whether a temporary password may stand in for a link (`DEZKY_INVITE_PASSWORD_FALLBACK`).
    pub password_fallback: bool,
}

/// How the person gets in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// A recovery link, returned as the job's secret result.
    #[default]
    Link,
    /// Authentik emails the recovery link.
    Email,
}

/// Invites an operator.
#[derive(Debug, Clone, Copy)]
pub struct InviteOperator;

/// Arguments of `invite-operator`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteOperatorArgs {
    /// The person's email (at most 150 characters): their username, lowercased.
    #[serde(deserialize_with = "validate::email")]
    #[schema(max_length = 150, pattern = "^[^@ \\t\\r\\n]+@[^@ \\t\\r\\n]+$")]
    pub email: String,
    /// Their name.
    #[serde(deserialize_with = "validate::name")]
    #[schema(max_length = 200)]
    pub name: String,
    /// The tenant whose group they join.
    #[serde(default, deserialize_with = "validate::optional_slug")]
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub tenant: Option<String>,
    /// Further groups, by name (at most 20).
    #[serde(default, deserialize_with = "validate::group_names")]
    #[schema(value_type = Vec<validate::GroupName>, max_items = 20)]
    pub groups: Vec<String>,
    /// `link` (default) or `email`.
    #[serde(default)]
    #[schema(inline)]
    pub delivery: Delivery,
}

impl JobKind for InviteOperator {
    type Args = InviteOperatorArgs;
    const NAME: &'static str = "invite-operator";

    fn settings(&self) -> KindSettings {
        KindSettings {
            needs: &[Dependency::Authentik],
            route: Some("POST /v1/operators/invite"),
            ..KindSettings::default()
        }
    }

    fn keys(&self, args: &InviteOperatorArgs) -> Vec<String> {
        let mut keys = vec![format!("user:{}", args.email.to_lowercase())];
        if let Some(tenant) = &args.tenant {
            keys.push(format!("tenant:{tenant}"));
        }
        keys
    }

    async fn run(&self, ctx: JobContext, args: InviteOperatorArgs) -> Result<Output, JobError> {
        let client = ctx.services.authentik()?;
        let username = args.email.to_lowercase();
        let mut groups = args.groups.clone();
        if let Some(tenant) = &args.tenant {
            wait_for_tenant(&ctx, tenant).await?;
            groups.push(tenant_group(tenant));
        }
        let user = client
            .find_or_create_user(&NewUser {
                username: username.clone(),
                name: args.name.clone(),
                email: Some(args.email.clone()),
                groups: vec![],
                attributes: None,
            })
            .await?;
        for name in &groups {
            let group = client
                .find_or_create_group(&NewGroup { name: name.clone() })
                .await?;
            client.add_user_to_group(&group.pk, user.pk).await?;
        }
        let result = serde_json::json!({
            "user_pk": user.pk,
            "username": username,
            "groups": groups,
            "delivery": args.delivery,
        });
        let output = match args.delivery {
            Delivery::Email => {
                let stage =
                    ctx.services
                        .invites
                        .email_stage
                        .as_deref()
                        .ok_or_else(|| JobError::Abort {
                            class: "misconfigured",
                            message: "email delivery needs DEZKY_INVITE_EMAIL_STAGE".into(),
                        })?;
                let stage = client.stage_named(stage).await?;
                with_seeding(client, || client.send_recovery_email(user.pk, &stage.pk)).await?;
                result.into()
            }
            Delivery::Link => match with_seeding(client, || client.recovery_link(user.pk)).await {
                Ok(link) => Output::with_secret(
                    result,
                    serde_json::json!({ "recovery_link": link.link.expose_secret() }),
                ),
                Err(JobError::Abort { message, .. }) if ctx.services.invites.password_fallback => {
                    tracing::info!(job = %ctx.id, reason = %message, "no recovery link; setting a temporary password");
                    let password = temporary_password(client, &user).await?;
                    let mut result = result;
                    result["delivery"] = "temporary_password".into();
                    Output::with_secret(
                        result,
                        serde_json::json!({ "temporary_password": password.expose_secret() }),
                    )
                }
                Err(e) => return Err(e),
            },
        };
        if let (Some(tenant), Ok(store)) = (&args.tenant, ctx.services.store()) {
            ctx.services.may_write()?;
            let now = now_ms();
            let invitation = store
                .invite(&ctx.id, tenant, &username, now)
                .await
                .map_err(|e| JobError::retry(format!("cannot record the invitation: {e}")))?;
            store
                .set_invitation_status(&invitation.id, "delivered", now)
                .await
                .map_err(|e| JobError::retry(format!("cannot record the invitation: {e}")))?;
        }
        Ok(output)
    }
}

/// An invite into a tenant waits until the tenant's group is provisioned; an unknown tenant is
/// refused.
async fn wait_for_tenant(ctx: &JobContext, slug: &str) -> Result<(), JobError> {
    let store = ctx.services.store()?;
    let tenant = store
        .tenant(slug)
        .await
        .map_err(|e| JobError::retry(format!("cannot read the tenant: {e}")))?
        .ok_or_else(|| JobError::Abort {
            class: "unknown_tenant",
            message: format!("no tenant `{slug}`"),
        })?;
    if tenant.steps.0["group"]["status"] == "done" {
        Ok(())
    } else {
        tracing::info!(
            tenant = slug,
            "tenant not provisioned yet; the invite waits"
        );
        Err(JobError::Snooze(TENANT_WAIT))
    }
}

/// `call`, and on "No recovery flow set." the seeding once, then `call` again.
async fn with_seeding<T, F, Fut>(client: &AuthentikClient, call: F) -> Result<T, JobError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AuthentikError>>,
{
    match call().await {
        Err(AuthentikError::Invalid(e)) if e.non_field_mentions("No recovery flow set") => {
            tracing::info!("no recovery flow set: seeding it");
            recovery::seed(client).await?;
            Ok(call().await?)
        }
        other => Ok(other?),
    }
}

/// Sets a fresh random password (CSPRNG, 24 characters) and marks it expired in the user's
/// attributes, merged by read-modify-write (a PATCH replaces `attributes` whole).
async fn temporary_password(
    client: &AuthentikClient,
    user: &User,
) -> Result<SecretString, JobError> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let password: String = {
        let mut rng = rand::rng();
        (0..TEMPORARY_PASSWORD_LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    let password = SecretString::from(password);
    client.set_password(user.pk, &password).await?;
    let mut attributes = client.user(user.pk).await?.attributes;
    if !attributes.is_object() {
        attributes = serde_json::json!({});
    }
    attributes["passwordExpired"] = true.into();
    attributes["passwordExpiredAt"] = now_ms().into();
    client.set_user_attributes(user.pk, &attributes).await?;
    Ok(password)
}
