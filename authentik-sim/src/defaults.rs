//! The objects a fresh Authentik 2025.12 has once its default blueprints ran (API-NOTES §5):
//! the default flows and their stages, the default brand — with no recovery flow — the OAuth2
//! scope mappings, the self-signed certificate, the bootstrap admin, and the blueprint records.

use rand::Rng;
use serde_json::{Value, json};

use super::store::{EPOCH, Objects, flow, stage, uuid};

/// The stages of the default flows: (name, component, model).
const STAGES: [(&str, &str, &str); 7] = [
    (
        "default-authentication-identification",
        "ak-stage-identification-form",
        "Identification Stage",
    ),
    (
        "default-authentication-password",
        "ak-stage-password-form",
        "Password Stage",
    ),
    (
        "default-authentication-mfa-validation",
        "ak-stage-authenticator-validate-form",
        "Authenticator Validation Stage",
    ),
    (
        "default-authentication-login",
        "ak-stage-user-login-form",
        "User Login Stage",
    ),
    (
        "default-password-change-prompt",
        "ak-stage-prompt-form",
        "Prompt Stage",
    ),
    (
        "default-password-change-write",
        "ak-stage-user-write-form",
        "User Write Stage",
    ),
    (
        "default-invalidation-logout",
        "ak-stage-user-logout-form",
        "User Logout Stage",
    ),
];

/// A default flow: slug, name, designation, authentication, and its stages with their order.
type DefaultFlow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, i64)],
);

/// The default flows.
const FLOWS: [DefaultFlow; 6] = [
    (
        "default-authentication-flow",
        "Welcome to authentik!",
        "authentication",
        "none",
        &[
            ("default-authentication-identification", 10),
            ("default-authentication-password", 20),
            ("default-authentication-mfa-validation", 30),
            ("default-authentication-login", 100),
        ],
    ),
    (
        "default-password-change",
        "Change password",
        "stage_configuration",
        "require_authenticated",
        &[
            ("default-password-change-prompt", 0),
            ("default-password-change-write", 1),
        ],
    ),
    (
        "default-invalidation-flow",
        "Logout",
        "invalidation",
        "none",
        &[("default-invalidation-logout", 0)],
    ),
    (
        "default-provider-authorization-implicit-consent",
        "Authorize Application",
        "authorization",
        "require_authenticated",
        &[],
    ),
    (
        "default-provider-invalidation-flow",
        "Logged out of application",
        "invalidation",
        "none",
        &[],
    ),
    (
        "default-user-settings-flow",
        "User settings",
        "stage_configuration",
        "require_authenticated",
        &[],
    ),
];

/// Blueprint files the defaults come from.
const BLUEPRINTS: [&str; 8] = [
    "Default - Authentication flow",
    "Default - Password change flow",
    "Default - Invalidation flow",
    "Default - Provider authorization flow (implicit consent)",
    "Default - Provider invalidation flow",
    "Default - User settings flow",
    "Default - Brand",
    "System - OAuth2 Provider - Scopes",
];

/// Adds the default objects to `objects`.
pub fn apply(objects: &mut Objects, rng: &mut impl Rng) {
    for (name, component, model) in STAGES {
        objects
            .stages
            .push(stage(&uuid(rng), name, component, model));
    }
    for (slug, name, designation, authentication, bound) in FLOWS {
        let pk = uuid(rng);
        objects
            .flows
            .push(flow(&pk, slug, name, name, designation, authentication));
        for (stage_name, order) in bound {
            let stage = objects
                .stages
                .iter()
                .find(|s| s["name"] == *stage_name)
                .cloned()
                .unwrap_or(Value::Null);
            objects
                .flow_bindings
                .push(flow_binding(&uuid(rng), &pk, &stage, *order));
        }
    }
    let flow_pk = |slug: &str| {
        objects
            .flows
            .iter()
            .find(|f| f["slug"] == slug)
            .map(|f| f["pk"].clone())
    };
    let brand = json!({
        "brand_uuid": uuid(rng), "domain": "authentik-default", "default": true,
        "branding_title": "authentik", "branding_logo": "/static/dist/assets/icons/icon_left_brand.svg",
        "branding_favicon": "/static/dist/assets/icons/icon.png", "branding_custom_css": "",
        "branding_default_flow_background": "/static/dist/assets/images/flow_background.jpg",
        "flow_authentication": flow_pk("default-authentication-flow"),
        "flow_invalidation": flow_pk("default-invalidation-flow"), "flow_recovery": null,
        "flow_unenrollment": null, "flow_user_settings": flow_pk("default-user-settings-flow"),
        "flow_device_code": null, "default_application": null, "web_certificate": null,
        "client_certificates": [], "attributes": {},
    });
    objects.brands.push(brand);
    for scope in ["openid", "email", "profile"] {
        objects.scope_mappings.push(json!({
            "pk": uuid(rng), "managed": format!("goauthentik.io/providers/oauth2/scope-{scope}"),
            "name": format!("authentik default OAuth Mapping: OpenID '{scope}'"), "expression": "return {}",
            "component": "ak-property-mapping-provider-scope-form", "verbose_name": "Scope Mapping",
            "verbose_name_plural": "Scope Mappings", "meta_model_name": "authentik_providers_oauth2.scopemapping",
            "scope_name": scope, "description": "",
        }));
    }
    objects.certificates.push(json!({
        "pk": uuid(rng), "name": "authentik Self-signed Certificate", "fingerprint_sha256": null, "fingerprint_sha1": null,
        "cert_expiry": null, "cert_subject": null, "private_key_available": true, "key_type": null,
        "certificate_download_url": "/api/v3/crypto/certificatekeypairs/download/",
        "private_key_download_url": "/api/v3/crypto/certificatekeypairs/download_private_key/", "managed": null,
    }));
    for name in BLUEPRINTS {
        objects.blueprints.push(json!({
            "pk": uuid(rng), "name": name, "path": "default.yaml", "context": {}, "last_applied": EPOCH,
            "last_applied_hash": "", "status": "successful", "enabled": true, "managed_models": [], "metadata": {},
            "content": "",
        }));
    }
}

/// A `FlowStageBinding` as Authentik answers it.
pub fn flow_binding(pk: &str, target: &str, stage: &Value, order: i64) -> Value {
    json!({
        "pk": pk, "policybindingmodel_ptr_id": pk, "target": target, "stage": stage["pk"], "stage_obj": stage,
        "evaluate_on_plan": false, "re_evaluate_policies": true, "order": order, "policy_engine_mode": "any",
        "invalid_response_action": "retry",
    })
}
