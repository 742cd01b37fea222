//! The typed calls of API-NOTES §2–§7, and find-or-create helpers that turn an "already
//! exists" 400 into fetching the existing object — what makes a write safe to retry after a
//! connection reset left its outcome unknown.

use reqwest::Method;
use serde_json::{Value, json};

use super::models::{
    Application, BlueprintInstance, Brand, CertificateKeyPair, ExpressionPolicy, Flow,
    FlowStageBinding, Group, NewApplication, NewBrand, NewExpressionPolicy, NewFlow,
    NewFlowStageBinding, NewGroup, NewOAuth2Provider, NewPolicyBinding, NewUser, OAuth2Provider,
    PolicyBinding, RecoveryLink, ScopeMapping, Stage, User, Version,
};
use super::{AuthentikClient, AuthentikError};

/// The one object a filtered list must hold.
fn first<T>(mut items: Vec<T>, what: &str) -> Result<T, AuthentikError> {
    if items.is_empty() {
        return Err(AuthentikError::NotFound(what.to_owned()));
    }
    Ok(items.swap_remove(0))
}

impl AuthentikClient {
    /// `GET /admin/version/`.
    pub async fn version(&self) -> Result<Version, AuthentikError> {
        self.get("/admin/version/").await
    }

    /// `GET /managed/blueprints/?name=`.
    pub async fn blueprints_named(
        &self,
        name: &str,
    ) -> Result<Vec<BlueprintInstance>, AuthentikError> {
        self.list_all("/managed/blueprints/", &[("name", name)])
            .await
    }

    /// `GET /flows/instances/?designation=`.
    pub async fn flows_by_designation(
        &self,
        designation: &str,
    ) -> Result<Vec<Flow>, AuthentikError> {
        self.list_all("/flows/instances/", &[("designation", designation)])
            .await
    }

    /// `GET /flows/instances/{slug}/`.
    pub async fn flow(&self, slug: &str) -> Result<Flow, AuthentikError> {
        self.get(&format!("/flows/instances/{slug}/")).await
    }

    /// `POST /flows/instances/`.
    pub async fn create_flow(&self, flow: &NewFlow) -> Result<Flow, AuthentikError> {
        self.send(Method::POST, "/flows/instances/", flow).await
    }

    /// `PATCH /flows/instances/{slug}/` with `{"authentication": …}`.
    pub async fn set_flow_authentication(
        &self,
        slug: &str,
        authentication: &str,
    ) -> Result<Flow, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/flows/instances/{slug}/"),
            &json!({ "authentication": authentication }),
        )
        .await
    }

    /// Creates the flow, or answers the existing one with its slug.
    pub async fn find_or_create_flow(&self, flow: &NewFlow) -> Result<Flow, AuthentikError> {
        match self.create_flow(flow).await {
            Err(AuthentikError::Invalid(e)) if e.has("slug") => self.flow(&flow.slug).await,
            other => other,
        }
    }

    /// `GET /stages/all/?name=` (exact).
    pub async fn stage_named(&self, name: &str) -> Result<Stage, AuthentikError> {
        first(
            self.list_all("/stages/all/", &[("name", name)]).await?,
            &format!("stage {name}"),
        )
    }

    /// `GET /flows/bindings/?target=`.
    pub async fn flow_bindings(
        &self,
        flow_pk: &str,
    ) -> Result<Vec<FlowStageBinding>, AuthentikError> {
        self.list_all("/flows/bindings/", &[("target", flow_pk)])
            .await
    }

    /// `POST /flows/bindings/`.
    pub async fn bind_stage(
        &self,
        binding: &NewFlowStageBinding,
    ) -> Result<FlowStageBinding, AuthentikError> {
        self.send(Method::POST, "/flows/bindings/", binding).await
    }

    /// Binds the stage, or answers the existing (target, stage, order) binding.
    pub async fn find_or_bind_stage(
        &self,
        binding: &NewFlowStageBinding,
    ) -> Result<FlowStageBinding, AuthentikError> {
        match self.bind_stage(binding).await {
            Err(AuthentikError::Invalid(e)) if e.non_field_mentions("unique set") => {
                let existing = self.flow_bindings(&binding.target).await?;
                first(
                    existing
                        .into_iter()
                        .filter(|b| b.stage == binding.stage && b.order == binding.order)
                        .collect(),
                    "flow stage binding",
                )
            }
            other => other,
        }
    }

    /// `DELETE /flows/bindings/{pk}/`.
    pub async fn unbind_stage(&self, binding_pk: &str) -> Result<(), AuthentikError> {
        let _: Value = self
            .call(
                Method::DELETE,
                &format!("/flows/bindings/{binding_pk}/"),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// `GET /core/brands/`, optionally only the default one.
    pub async fn brands(&self, only_default: bool) -> Result<Vec<Brand>, AuthentikError> {
        let query: &[(&str, &str)] = if only_default {
            &[("default", "true")]
        } else {
            &[]
        };
        self.list_all("/core/brands/", query).await
    }

    /// `PATCH /core/brands/{uuid}/` with `{"flow_recovery": …}`.
    pub async fn set_brand_recovery_flow(
        &self,
        brand_uuid: &str,
        flow_pk: Option<&str>,
    ) -> Result<Brand, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/core/brands/{brand_uuid}/"),
            &json!({ "flow_recovery": flow_pk }),
        )
        .await
    }

    /// `PATCH /core/brands/{uuid}/` (e.g. its flows).
    pub async fn update_brand(
        &self,
        brand_uuid: &str,
        changes: &Value,
    ) -> Result<Brand, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/core/brands/{brand_uuid}/"),
            changes,
        )
        .await
    }

    /// `GET /core/users/?username=` (exact).
    pub async fn user_named(&self, username: &str) -> Result<Option<User>, AuthentikError> {
        Ok(self
            .list_all::<User>("/core/users/", &[("username", username)])
            .await?
            .into_iter()
            .next())
    }

    /// `GET /core/users/{pk}/`.
    pub async fn user(&self, pk: i64) -> Result<User, AuthentikError> {
        self.get(&format!("/core/users/{pk}/")).await
    }

    /// `POST /core/users/`.
    pub async fn create_user(&self, user: &NewUser) -> Result<User, AuthentikError> {
        self.send(Method::POST, "/core/users/", user).await
    }

    /// Creates the user, or answers the existing one with its username.
    pub async fn find_or_create_user(&self, user: &NewUser) -> Result<User, AuthentikError> {
        match self.create_user(user).await {
            Err(AuthentikError::Invalid(e)) if e.has("username") => self
                .user_named(&user.username)
                .await?
                .ok_or_else(|| AuthentikError::NotFound(format!("user {}", user.username))),
            other => other,
        }
    }

    /// `PATCH /core/users/{pk}/` with `{"attributes": …}` — replaces them whole.
    pub async fn set_user_attributes(
        &self,
        pk: i64,
        attributes: &Value,
    ) -> Result<User, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/core/users/{pk}/"),
            &json!({ "attributes": attributes }),
        )
        .await
    }

    /// `POST /core/users/{pk}/set_password/`.
    pub async fn set_password(
        &self,
        pk: i64,
        password: &secrecy::SecretString,
    ) -> Result<(), AuthentikError> {
        use secrecy::ExposeSecret;
        let _: Value = self
            .send(
                Method::POST,
                &format!("/core/users/{pk}/set_password/"),
                &json!({ "password": password.expose_secret() }),
            )
            .await?;
        Ok(())
    }

    /// `POST /core/users/{pk}/recovery/`: a one-time link, built by Authentik from our Host.
    pub async fn recovery_link(&self, pk: i64) -> Result<RecoveryLink, AuthentikError> {
        self.call(
            Method::POST,
            &format!("/core/users/{pk}/recovery/"),
            &[],
            None,
        )
        .await
    }

    /// `GET /core/groups/?name=` (exact).
    pub async fn group_named(&self, name: &str) -> Result<Option<Group>, AuthentikError> {
        Ok(self
            .list_all::<Group>("/core/groups/", &[("name", name)])
            .await?
            .into_iter()
            .next())
    }

    /// `POST /core/groups/`.
    pub async fn create_group(&self, group: &NewGroup) -> Result<Group, AuthentikError> {
        self.send(Method::POST, "/core/groups/", group).await
    }

    /// Creates the group, or answers the existing one with its name.
    pub async fn find_or_create_group(&self, group: &NewGroup) -> Result<Group, AuthentikError> {
        match self.create_group(group).await {
            Err(AuthentikError::Invalid(e)) if e.has("name") => self
                .group_named(&group.name)
                .await?
                .ok_or_else(|| AuthentikError::NotFound(format!("group {}", group.name))),
            other => other,
        }
    }

    /// `POST /core/groups/{uuid}/add_user/` (safe to repeat).
    pub async fn add_user_to_group(
        &self,
        group_pk: &str,
        user_pk: i64,
    ) -> Result<(), AuthentikError> {
        let _: Value = self
            .send(
                Method::POST,
                &format!("/core/groups/{group_pk}/add_user/"),
                &json!({ "pk": user_pk }),
            )
            .await?;
        Ok(())
    }

    /// `GET /policies/expression/?name=`.
    pub async fn expression_policy_named(
        &self,
        name: &str,
    ) -> Result<Option<ExpressionPolicy>, AuthentikError> {
        Ok(self
            .list_all::<ExpressionPolicy>("/policies/expression/", &[("name", name)])
            .await?
            .into_iter()
            .next())
    }

    /// Creates the expression policy, or answers the existing one with its name.
    pub async fn find_or_create_expression_policy(
        &self,
        policy: &NewExpressionPolicy,
    ) -> Result<ExpressionPolicy, AuthentikError> {
        match self
            .send(Method::POST, "/policies/expression/", policy)
            .await
        {
            Err(AuthentikError::Invalid(e)) if e.has("name") => self
                .expression_policy_named(&policy.name)
                .await?
                .ok_or_else(|| AuthentikError::NotFound(format!("policy {}", policy.name))),
            other => other,
        }
    }

    /// `GET /policies/bindings/?target=`.
    pub async fn policy_bindings(
        &self,
        target: &str,
    ) -> Result<Vec<PolicyBinding>, AuthentikError> {
        self.list_all("/policies/bindings/", &[("target", target)])
            .await
    }

    /// Binds the policy or group, or answers the existing binding of it to the target.
    pub async fn find_or_bind_policy(
        &self,
        binding: &NewPolicyBinding,
    ) -> Result<PolicyBinding, AuthentikError> {
        match self
            .send(Method::POST, "/policies/bindings/", binding)
            .await
        {
            Err(AuthentikError::Invalid(e)) if e.non_field_mentions("unique set") => {
                let existing = self.policy_bindings(&binding.target).await?;
                first(
                    existing
                        .into_iter()
                        .filter(|b| {
                            b.policy == binding.policy
                                && b.group == binding.group
                                && b.order == binding.order
                        })
                        .collect(),
                    "policy binding",
                )
            }
            other => other,
        }
    }

    /// `DELETE /policies/bindings/{pk}/`.
    pub async fn delete_policy_binding(&self, pk: &str) -> Result<(), AuthentikError> {
        let _: Value = self
            .call(
                Method::DELETE,
                &format!("/policies/bindings/{pk}/"),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// `GET /propertymappings/provider/scope/?managed=…` for each managed id.
    pub async fn scope_mappings(
        &self,
        managed: &[&str],
    ) -> Result<Vec<ScopeMapping>, AuthentikError> {
        let query: Vec<(&str, &str)> = managed.iter().map(|m| ("managed", *m)).collect();
        self.list_all("/propertymappings/provider/scope/", &query)
            .await
    }

    /// `GET /crypto/certificatekeypairs/?name=&has_key=true`.
    pub async fn certificate_named(
        &self,
        name: &str,
    ) -> Result<Option<CertificateKeyPair>, AuthentikError> {
        let found: Vec<CertificateKeyPair> = self
            .list_all(
                "/crypto/certificatekeypairs/",
                &[("name", name), ("has_key", "true")],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// `GET /core/brands/?domain=` (exact).
    pub async fn brand_for_domain(&self, domain: &str) -> Result<Option<Brand>, AuthentikError> {
        Ok(self
            .list_all::<Brand>("/core/brands/", &[("domain", domain)])
            .await?
            .into_iter()
            .next())
    }

    /// Creates the brand, or answers the existing one with its domain.
    pub async fn find_or_create_brand(&self, brand: &NewBrand) -> Result<Brand, AuthentikError> {
        match self.send(Method::POST, "/core/brands/", brand).await {
            Err(AuthentikError::Invalid(e)) if e.has("domain") => self
                .brand_for_domain(&brand.domain)
                .await?
                .ok_or_else(|| AuthentikError::NotFound(format!("brand {}", brand.domain))),
            other => other,
        }
    }

    /// `POST /core/users/{pk}/recovery_email/?email_stage=` (2025.12 shape).
    pub async fn send_recovery_email(
        &self,
        pk: i64,
        email_stage: &str,
    ) -> Result<(), AuthentikError> {
        let _: Value = self
            .call(
                Method::POST,
                &format!("/core/users/{pk}/recovery_email/"),
                &[("email_stage", email_stage)],
                None,
            )
            .await?;
        Ok(())
    }

    /// `GET /providers/oauth2/?name=`.
    pub async fn oauth2_provider_named(
        &self,
        name: &str,
    ) -> Result<Option<OAuth2Provider>, AuthentikError> {
        Ok(self
            .list_all::<OAuth2Provider>("/providers/oauth2/", &[("name", name)])
            .await?
            .into_iter()
            .next())
    }

    /// Creates the provider, or answers the existing one with its name.
    pub async fn find_or_create_oauth2_provider(
        &self,
        provider: &NewOAuth2Provider,
    ) -> Result<OAuth2Provider, AuthentikError> {
        match self
            .send(Method::POST, "/providers/oauth2/", provider)
            .await
        {
            Err(AuthentikError::Invalid(e)) if e.has("name") => self
                .oauth2_provider_named(&provider.name)
                .await?
                .ok_or_else(|| AuthentikError::NotFound(format!("provider {}", provider.name))),
            other => other,
        }
    }

    /// `GET /core/applications/{slug}/` (not the list: it is filtered by access and cached).
    pub async fn application(&self, slug: &str) -> Result<Option<Application>, AuthentikError> {
        match self.get(&format!("/core/applications/{slug}/")).await {
            Err(AuthentikError::NotFound(_)) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Creates the application, or answers the existing one with its slug.
    pub async fn find_or_create_application(
        &self,
        application: &NewApplication,
    ) -> Result<Application, AuthentikError> {
        match self
            .send(Method::POST, "/core/applications/", application)
            .await
        {
            Err(AuthentikError::Invalid(e)) if e.has("slug") => {
                self.application(&application.slug).await?.ok_or_else(|| {
                    AuthentikError::NotFound(format!("application {}", application.slug))
                })
            }
            other => other,
        }
    }

    /// `PATCH /providers/oauth2/{pk}/` (e.g. its redirect URIs, replaced as a whole list).
    pub async fn update_oauth2_provider(
        &self,
        pk: i64,
        changes: &Value,
    ) -> Result<OAuth2Provider, AuthentikError> {
        self.send(Method::PATCH, &format!("/providers/oauth2/{pk}/"), changes)
            .await
    }

    /// `PATCH /core/applications/{slug}/` (e.g. its name or provider).
    pub async fn update_application(
        &self,
        slug: &str,
        changes: &Value,
    ) -> Result<Application, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/core/applications/{slug}/"),
            changes,
        )
        .await
    }

    /// `GET /core/users/?email=` (exact; email is not unique, so several may match).
    pub async fn users_with_email(&self, email: &str) -> Result<Vec<User>, AuthentikError> {
        self.list_all("/core/users/", &[("email", email)]).await
    }

    /// `GET /providers/oauth2/{pk}/`.
    pub async fn oauth2_provider(&self, pk: i64) -> Result<OAuth2Provider, AuthentikError> {
        self.get(&format!("/providers/oauth2/{pk}/")).await
    }

    /// `GET /policies/expression/{uuid}/`.
    pub async fn expression_policy(&self, pk: &str) -> Result<ExpressionPolicy, AuthentikError> {
        self.get(&format!("/policies/expression/{pk}/")).await
    }

    /// `PATCH /policies/expression/{uuid}/` with a new expression (repairing a guard).
    pub async fn set_policy_expression(
        &self,
        pk: &str,
        expression: &str,
    ) -> Result<ExpressionPolicy, AuthentikError> {
        self.send(
            Method::PATCH,
            &format!("/policies/expression/{pk}/"),
            &json!({ "expression": expression }),
        )
        .await
    }

    /// `DELETE /policies/expression/{uuid}/`.
    pub async fn delete_expression_policy(&self, pk: &str) -> Result<(), AuthentikError> {
        let _: Value = self
            .call(
                Method::DELETE,
                &format!("/policies/expression/{pk}/"),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// `GET /policies/bindings/{uuid}/`.
    pub async fn policy_binding(&self, pk: &str) -> Result<PolicyBinding, AuthentikError> {
        self.get(&format!("/policies/bindings/{pk}/")).await
    }

    /// `PATCH /policies/bindings/{uuid}/` (e.g. `{"enabled": true}` or a new `order`).
    pub async fn update_policy_binding(
        &self,
        pk: &str,
        changes: &Value,
    ) -> Result<PolicyBinding, AuthentikError> {
        self.send(Method::PATCH, &format!("/policies/bindings/{pk}/"), changes)
            .await
    }

    /// `GET /core/groups/{uuid}/`.
    pub async fn group(&self, pk: &str) -> Result<Group, AuthentikError> {
        self.get(&format!("/core/groups/{pk}/")).await
    }

    /// `PATCH /flows/bindings/{uuid}/` (e.g. the policy flags of a guarded stage).
    pub async fn update_flow_binding(
        &self,
        pk: &str,
        changes: &Value,
    ) -> Result<FlowStageBinding, AuthentikError> {
        self.send(Method::PATCH, &format!("/flows/bindings/{pk}/"), changes)
            .await
    }

    /// `GET /flows/bindings/{uuid}/`.
    pub async fn flow_binding(&self, pk: &str) -> Result<FlowStageBinding, AuthentikError> {
        self.get(&format!("/flows/bindings/{pk}/")).await
    }
}
