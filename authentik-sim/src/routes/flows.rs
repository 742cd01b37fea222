//! Flows, stages and their bindings (API-NOTES §2 and §7).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Pairs;
use crate::Sim;
use crate::defaults::flow_binding;
use crate::store::{flow, uuid};
use crate::util::{
    Answer, apply_patch, created, field_error, json_body, not_found, patch_where, require,
};

const DESIGNATIONS: [&str; 7] = [
    "authentication",
    "authorization",
    "invalidation",
    "enrollment",
    "unenrollment",
    "recovery",
    "stage_configuration",
];
const AUTHENTICATIONS: [&str; 6] = [
    "none",
    "require_authenticated",
    "require_unauthenticated",
    "require_superuser",
    "require_redirect",
    "require_outpost",
];
const FLOW_WRITABLE: [&str; 10] = [
    "name",
    "slug",
    "title",
    "designation",
    "authentication",
    "layout",
    "denied_action",
    "policy_engine_mode",
    "compatibility_mode",
    "background",
];

fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_choice(
    body: &serde_json::Map<String, Value>,
    field: &str,
    choices: &[&str],
) -> Result<(), Response> {
    match body.get(field) {
        Some(Value::String(v)) if choices.contains(&v.as_str()) => Ok(()),
        Some(v) => Err(field_error(field, &format!("{v} is not a valid choice."))),
        None => Ok(()),
    }
}

pub async fn list_flows(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.flows, &["designation", "slug", "name"])
}

pub async fn create_flow(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["name", "slug", "title", "designation"])?;
    let slug = body["slug"].as_str().unwrap_or("").to_owned();
    if !valid_slug(&slug) {
        return Err(field_error(
            "slug",
            "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.",
        ));
    }
    check_choice(&body, "designation", &DESIGNATIONS)
        .and_then(|()| check_choice(&body, "authentication", &AUTHENTICATIONS))?;
    sim.write(|store, rng| {
        if store.objects.flows.iter().any(|f| f["slug"] == slug) {
            return Err(field_error("slug", "Flow with this slug already exists."));
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let mut object = flow(
            &uuid(rng),
            &slug,
            &text("name"),
            &text("title"),
            &text("designation"),
            "none",
        );
        apply_patch(&mut object, &body, &FLOW_WRITABLE);
        store.objects.flows.push(object.clone());
        Ok(created(object))
    })
}

pub async fn get_flow(State(sim): State<Sim>, Path(slug): Path<String>) -> Response {
    sim.find(|o| &o.flows, "slug", &json!(slug), "Flow")
}

pub async fn patch_flow(
    State(sim): State<Sim>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    check_choice(&body, "designation", &DESIGNATIONS)
        .and_then(|()| check_choice(&body, "authentication", &AUTHENTICATIONS))?;
    sim.write(|store, _| {
        let flows = &mut store.objects.flows;
        patch_where(flows, "slug", &slug, &body, &FLOW_WRITABLE, "Flow")
    })
}

pub async fn list_bindings(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.flow_bindings, &["target", "stage", "order"])
}

pub async fn get_binding(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.find(|o| &o.flow_bindings, "pk", &json!(pk), "FlowStageBinding")
}

/// Fields of a flow–stage binding a PATCH may change (`target` and `stage` stay).
const BINDING_WRITABLE: [&str; 5] = [
    "order",
    "evaluate_on_plan",
    "re_evaluate_policies",
    "policy_engine_mode",
    "invalid_response_action",
];

pub async fn patch_binding(
    State(sim): State<Sim>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    for flag in ["evaluate_on_plan", "re_evaluate_policies"] {
        if body.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(field_error(flag, "Must be a valid boolean."));
        }
    }
    if body.get("order").is_some_and(|v| !v.is_i64()) {
        return Err(field_error("order", "A valid integer is required."));
    }
    sim.write(|store, _| {
        let bindings = &mut store.objects.flow_bindings;
        patch_where(
            bindings,
            "pk",
            &pk,
            &body,
            &BINDING_WRITABLE,
            "FlowStageBinding",
        )
    })
}

pub async fn create_binding(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["target", "stage", "order"])?;
    let (target, stage_pk) = (
        body["target"].as_str().unwrap_or(""),
        body["stage"].as_str().unwrap_or(""),
    );
    let order = body["order"]
        .as_i64()
        .ok_or_else(|| field_error("order", "A valid integer is required."))?;
    sim.write(|store, rng| {
        let objects = &mut store.objects;
        let flow_index = objects.flows.iter().position(|f| f["pk"] == target).ok_or_else(|| {
            field_error("target", &format!("“{target}” is not a valid UUID or Invalid pk \"{target}\" - object does not exist."))
        })?;
        let stage = objects.stages.iter().find(|s| s["pk"] == stage_pk).cloned().ok_or_else(|| {
            field_error("stage", &format!("Invalid pk \"{stage_pk}\" - object does not exist."))
        })?;
        let taken = objects.flow_bindings.iter().any(|b| b["target"] == target && b["stage"] == stage_pk && b["order"] == order);
        if taken {
            return Err((StatusCode::BAD_REQUEST, axum::Json(json!({"non_field_errors": ["The fields target, stage, order must make a unique set."]}))).into_response());
        }
        let mut binding = flow_binding(&uuid(rng), target, &stage, order);
        for key in ["evaluate_on_plan", "re_evaluate_policies", "policy_engine_mode", "invalid_response_action"] {
            if let Some(v) = body.get(key) {
                binding[key] = v.clone();
            }
        }
        if let Some(stages) = objects.flows[flow_index]["stages"].as_array_mut() {
            stages.push(json!(stage_pk));
        }
        objects.flow_bindings.push(binding.clone());
        Ok(created(binding))
    })
}

pub async fn delete_binding(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.write(|store, _| {
        let objects = &mut store.objects;
        let index = objects
            .flow_bindings
            .iter()
            .position(|b| b["pk"] == pk.as_str())
            .ok_or_else(|| not_found("FlowStageBinding"))?;
        let binding = objects.flow_bindings.remove(index);
        if let Some(flow) = objects
            .flows
            .iter_mut()
            .find(|f| f["pk"] == binding["target"])
            && let Some(stages) = flow["stages"].as_array_mut()
            && let Some(at) = stages.iter().position(|s| *s == binding["stage"])
        {
            stages.remove(at);
        }
        objects
            .policy_bindings
            .retain(|p| p["target"] != binding["pk"]);
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .unwrap_or_else(|r| r)
}

pub async fn list_stages(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.stages, &["name"])
}
