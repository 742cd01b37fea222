//! OAuth2 providers and applications (API-NOTES §4): a provider needs its authorization and
//! invalidation flows and redirect URIs; an application's slug is unique and a provider serves one
//! application.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};

use super::Pairs;
use crate::Sim;
use crate::store::uuid;
use crate::util::{Answer, apply_patch, created, field_error, json_body, not_found, ok, require};

const PROVIDER_WRITABLE: [&str; 15] = [
    "name",
    "authorization_flow",
    "invalidation_flow",
    "authentication_flow",
    "redirect_uris",
    "client_type",
    "client_id",
    "client_secret",
    "property_mappings",
    "signing_key",
    "encryption_key",
    "access_code_validity",
    "access_token_validity",
    "refresh_token_validity",
    "include_claims_in_id_token",
];
const APPLICATION_WRITABLE: [&str; 9] = [
    "name",
    "slug",
    "provider",
    "meta_launch_url",
    "meta_description",
    "meta_publisher",
    "open_in_new_tab",
    "policy_engine_mode",
    "group",
];

pub async fn list_providers(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.providers, &["name", "client_id"])
}

pub async fn get_provider(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let Ok(pk) = id.parse::<i64>() else {
        return not_found("OAuth2 Provider");
    };
    sim.read(|s| s.objects.providers.iter().find(|p| p["pk"] == pk).cloned())
        .map_or_else(|| not_found("OAuth2 Provider"), ok)
}

/// The fields of a provider `body` sends that Authentik checks: redirect URIs in the 2024.10+
/// shape, flows that exist, a name no other provider (but `pk`) has.
fn check_provider(
    store: &crate::store::Store,
    body: &serde_json::Map<String, Value>,
    pk: Option<i64>,
) -> Result<(), Response> {
    if let Some(uris) = body.get("redirect_uris")
        && !uris.as_array().is_some_and(|uris| {
            uris.iter()
                .all(|u| u["url"].is_string() && u["matching_mode"].is_string())
        })
    {
        return Err(field_error(
            "redirect_uris",
            "Expected a list of {matching_mode, url}.",
        ));
    }
    for field in ["authorization_flow", "invalidation_flow"] {
        if let Some(flow) = body.get(field)
            && !store.objects.flows.iter().any(|f| f["pk"] == *flow)
        {
            return Err(field_error(
                field,
                &format!(
                    "Invalid pk \"{}\" - object does not exist.",
                    flow.as_str().unwrap_or("")
                ),
            ));
        }
    }
    if let Some(name) = body.get("name")
        && store
            .objects
            .providers
            .iter()
            .any(|p| p["name"] == *name && Some(&p["pk"]) != pk.map(Value::from).as_ref())
    {
        return Err(field_error(
            "name",
            "Provider with this name already exists.",
        ));
    }
    Ok(())
}

/// The provider as an application's `provider_obj` shows it.
fn provider_obj(provider: &Value) -> Value {
    const SHOWN: [&str; 14] = [
        "pk",
        "name",
        "authentication_flow",
        "authorization_flow",
        "invalidation_flow",
        "property_mappings",
        "component",
        "assigned_application_slug",
        "assigned_application_name",
        "assigned_backchannel_application_slug",
        "assigned_backchannel_application_name",
        "verbose_name",
        "verbose_name_plural",
        "meta_model_name",
    ];
    Value::Object(
        SHOWN
            .iter()
            .map(|k| ((*k).to_owned(), provider[*k].clone()))
            .collect(),
    )
}

pub async fn create_provider(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(
        &body,
        &[
            "name",
            "authorization_flow",
            "invalidation_flow",
            "redirect_uris",
        ],
    )?;
    sim.write(|store, rng| {
        check_provider(store, &body, None)?;
        let pk = store.next_pk();
        let mut provider = json!({
            "pk": pk, "name": "", "authentication_flow": null, "authorization_flow": "", "invalidation_flow": "",
            "property_mappings": [], "component": "ak-provider-oauth2-form",
            "assigned_application_slug": null, "assigned_application_name": null,
            "assigned_backchannel_application_slug": null, "assigned_backchannel_application_name": null,
            "verbose_name": "OAuth2/OpenID Provider", "verbose_name_plural": "OAuth2/OpenID Providers",
            "meta_model_name": "authentik_providers_oauth2.oauth2provider", "client_type": "confidential",
            "client_id": Alphanumeric.sample_string(rng, 40), "client_secret": Alphanumeric.sample_string(rng, 128),
            "access_code_validity": "minutes=1", "access_token_validity": "hours=1", "refresh_token_validity": "days=30",
            "include_claims_in_id_token": true, "signing_key": null, "encryption_key": null, "redirect_uris": [],
            "sub_mode": "hashed_user_id", "issuer_mode": "per_provider", "jwt_federation_sources": [],
            "jwt_federation_providers": [],
        });
        apply_patch(&mut provider, &body, &PROVIDER_WRITABLE);
        sim.canary(provider["client_secret"].as_str().unwrap_or_default());
        store.objects.providers.push(provider.clone());
        Ok(created(provider))
    })
}

/// `PATCH /providers/oauth2/{id}/`: the fields sent replace the provider's (redirect URIs as a
/// whole list); the application it serves shows the change.
pub async fn patch_provider(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    let pk = id
        .parse::<i64>()
        .map_err(|_| not_found("OAuth2 Provider"))?;
    sim.write(|store, _| {
        check_provider(store, &body, Some(pk))?;
        let objects = &mut store.objects;
        let provider = objects
            .providers
            .iter_mut()
            .find(|p| p["pk"] == pk)
            .ok_or_else(|| not_found("OAuth2 Provider"))?;
        apply_patch(provider, &body, &PROVIDER_WRITABLE);
        sim.canary(provider["client_secret"].as_str().unwrap_or_default());
        let shown = provider_obj(provider);
        let provider = provider.clone();
        if let Some(application) = objects
            .applications
            .iter_mut()
            .find(|a| a["provider"] == pk)
        {
            application["provider_obj"] = shown;
        }
        Ok(ok(provider))
    })
}

pub async fn list_applications(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.applications, &["slug", "name"])
}

pub async fn get_application(State(sim): State<Sim>, Path(slug): Path<String>) -> Response {
    sim.find(|o| &o.applications, "slug", &json!(slug), "Application")
}

/// Checks the provider `application` is to serve (it exists and serves no other application),
/// then links them both ways: the provider's `assigned_application_*`, the application's
/// `provider_obj`; a provider it served before is freed.
fn link_provider(
    objects: &mut crate::store::Objects,
    application: &mut Value,
    before: &Value,
) -> Result<(), Response> {
    let provider = application["provider"].clone();
    if !provider.is_null() {
        if objects
            .applications
            .iter()
            .any(|a| a["provider"] == provider && a["pk"] != application["pk"])
        {
            return Err(field_error(
                "provider",
                "Application with this provider already exists.",
            ));
        }
        if !objects.providers.iter().any(|p| p["pk"] == provider) {
            return Err(field_error(
                "provider",
                &format!("Invalid pk \"{provider}\" - object does not exist."),
            ));
        }
    }
    if let Some(old) = objects
        .providers
        .iter_mut()
        .find(|p| !before.is_null() && p["pk"] == *before)
    {
        old["assigned_application_slug"] = Value::Null;
        old["assigned_application_name"] = Value::Null;
    }
    application["provider_obj"] = Value::Null;
    if let Some(p) = objects
        .providers
        .iter_mut()
        .find(|p| !provider.is_null() && p["pk"] == provider)
    {
        p["assigned_application_slug"] = application["slug"].clone();
        p["assigned_application_name"] = application["name"].clone();
        application["provider_obj"] = provider_obj(p);
    }
    Ok(())
}

pub async fn create_application(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["name", "slug"])?;
    sim.write(|store, rng| {
        let objects = &mut store.objects;
        if objects.applications.iter().any(|a| a["slug"] == body["slug"]) {
            return Err(field_error("slug", "Application with this slug already exists."));
        }
        let mut application = json!({
            "pk": uuid(rng), "name": "", "slug": "", "provider": null, "provider_obj": null,
            "backchannel_providers": [], "backchannel_providers_obj": [], "launch_url": null, "open_in_new_tab": false,
            "meta_launch_url": "", "meta_icon": "", "meta_icon_url": null, "meta_icon_themed_urls": null,
            "meta_description": "", "meta_publisher": "", "policy_engine_mode": "any", "group": "",
        });
        apply_patch(&mut application, &body, &APPLICATION_WRITABLE);
        link_provider(objects, &mut application, &Value::Null)?;
        objects.applications.push(application.clone());
        Ok(created(application))
    })
}

/// `PATCH /core/applications/{slug}/`: the fields sent replace the application's; a new
/// provider is checked and linked, the one it replaced freed.
pub async fn patch_application(
    State(sim): State<Sim>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    sim.write(|store, _| {
        let objects = &mut store.objects;
        if let Some(new_slug) = body.get("slug")
            && *new_slug != slug
            && objects.applications.iter().any(|a| a["slug"] == *new_slug)
        {
            return Err(field_error(
                "slug",
                "Application with this slug already exists.",
            ));
        }
        let index = objects
            .applications
            .iter()
            .position(|a| a["slug"] == slug.as_str())
            .ok_or_else(|| not_found("Application"))?;
        let mut application = objects.applications[index].clone();
        let before = application["provider"].clone();
        apply_patch(&mut application, &body, &APPLICATION_WRITABLE);
        link_provider(objects, &mut application, &before)?;
        objects.applications[index] = application.clone();
        Ok(ok(application))
    })
}
