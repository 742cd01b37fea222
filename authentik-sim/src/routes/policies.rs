//! Expression policies and policy bindings (API-NOTES §7), scope mappings and certificates (§4).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Pairs, single};
use crate::Sim;
use crate::store::{Store, uuid};
use crate::util::{
    Answer, apply_patch, created, field_error, filter, json_body, not_found, ok, paginate,
    patch_where, require,
};

const BINDING_WRITABLE: [&str; 8] = [
    "policy", "group", "user", "target", "negate", "enabled", "order", "timeout",
];

pub async fn list_expression(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.policies, &["name"])
}

pub async fn get_expression(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.find(|o| &o.policies, "pk", &json!(pk), "Expression Policy")
}

pub async fn create_expression(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["name", "expression"])?;
    sim.write(|store, rng| {
        if store.objects.policies.iter().any(|p| p["name"] == body["name"]) {
            return Err(field_error("name", "Policy with this name already exists."));
        }
        let mut policy = json!({
            "pk": uuid(rng), "name": "", "execution_logging": false, "component": "ak-policy-expression-form",
            "verbose_name": "Expression Policy", "verbose_name_plural": "Expression Policies",
            "meta_model_name": "authentik_policies_expression.expressionpolicy", "bound_to": 0, "expression": "",
        });
        apply_patch(&mut policy, &body, &["name", "expression", "execution_logging"]);
        store.objects.policies.push(policy.clone());
        Ok(created(policy))
    })
}

pub async fn patch_expression(
    State(sim): State<Sim>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    sim.write(|store, _| {
        let writable = ["name", "expression", "execution_logging"];
        let policies = &mut store.objects.policies;
        patch_where(policies, "pk", &pk, &body, &writable, "Expression Policy")
    })
}

pub async fn delete_expression(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.write(|store, _| {
        let before = store.objects.policies.len();
        store.objects.policies.retain(|p| p["pk"] != pk.as_str());
        if store.objects.policies.len() == before {
            return Err(not_found("Expression Policy"));
        }
        store
            .objects
            .policy_bindings
            .retain(|b| b["policy"] != pk.as_str());
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .unwrap_or_else(|r| r)
}

/// Whether `target` names a policy binding model: a flow, a flow stage binding or an application.
fn target_exists(store: &Store, target: &str) -> bool {
    let o = &store.objects;
    o.flows.iter().any(|f| f["pk"] == target)
        || o.flow_bindings.iter().any(|b| b["pk"] == target)
        || o.applications.iter().any(|a| a["pk"] == target)
}

fn policy_binding_json(store: &Store, pk: &str, body: &serde_json::Map<String, Value>) -> Value {
    let mut binding = json!({
        "pk": pk, "policy": null, "group": null, "user": null, "policy_obj": null, "group_obj": null, "user_obj": null,
        "target": "", "negate": false, "enabled": true, "order": 0, "timeout": 30, "failure_result": false,
    });
    apply_patch(&mut binding, body, &BINDING_WRITABLE);
    binding["policy_obj"] = store
        .objects
        .policies
        .iter()
        .find(|p| p["pk"] == binding["policy"])
        .cloned()
        .unwrap_or(Value::Null);
    binding
}

pub async fn list_policy_bindings(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.policy_bindings, &["target", "policy"])
}

pub async fn get_policy_binding(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.find(|o| &o.policy_bindings, "pk", &json!(pk), "Policy Binding")
}

pub async fn create_policy_binding(
    State(sim): State<Sim>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["target", "order"])?;
    let target = body["target"].as_str().unwrap_or("").to_owned();
    sim.write(|store, rng| {
        if !target_exists(store, &target) {
            return Err(field_error("target", &format!("Invalid pk \"{target}\" - object does not exist.")));
        }
        let bound: Vec<&str> = ["policy", "group", "user"].into_iter().filter(|k| body.get(*k).is_some_and(|v| !v.is_null())).collect();
        if bound.len() != 1 {
            return Err((StatusCode::BAD_REQUEST, axum::Json(json!({"non_field_errors": ["Only one of 'policy', 'group' or 'user' can be set."]}))).into_response());
        }
        if let Some(Value::String(policy)) = body.get("policy")
            && !store.objects.policies.iter().any(|p| p["pk"] == policy.as_str())
        {
            return Err(field_error("policy", &format!("Invalid pk \"{policy}\" - object does not exist.")));
        }
        let taken = store.objects.policy_bindings.iter().any(|b| {
            b["target"] == target && b["order"] == body["order"] && ["policy", "group", "user"].iter().all(|k| b[*k] == *body.get(*k).unwrap_or(&Value::Null))
        });
        if taken {
            return Err((StatusCode::BAD_REQUEST, axum::Json(json!({"non_field_errors": ["The fields policy, target, order must make a unique set."]}))).into_response());
        }
        let binding = policy_binding_json(store, &uuid(rng), &body);
        store.objects.policy_bindings.push(binding.clone());
        Ok(created(binding))
    })
}

pub async fn patch_policy_binding(
    State(sim): State<Sim>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    sim.write(|store, _| {
        let index = store
            .objects
            .policy_bindings
            .iter()
            .position(|b| b["pk"] == pk.as_str())
            .ok_or_else(|| not_found("Policy Binding"))?;
        let mut merged = store.objects.policy_bindings[index]
            .as_object()
            .cloned()
            .unwrap_or_default();
        merged.extend(body);
        let binding = policy_binding_json(store, &pk, &merged);
        store.objects.policy_bindings[index] = binding.clone();
        Ok(ok(binding))
    })
}

pub async fn delete_policy_binding(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.write(|store, _| {
        let before = store.objects.policy_bindings.len();
        store
            .objects
            .policy_bindings
            .retain(|b| b["pk"] != pk.as_str());
        if store.objects.policy_bindings.len() == before {
            return Err(not_found("Policy Binding"));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .unwrap_or_else(|r| r)
}

pub async fn list_scope_mappings(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    let managed: Vec<&String> = q
        .iter()
        .filter(|(k, _)| k == "managed")
        .map(|(_, v)| v)
        .collect();
    let items = sim.read(|s| {
        s.objects
            .scope_mappings
            .iter()
            .filter(|m| managed.is_empty() || managed.iter().any(|v| m["managed"] == v.as_str()))
            .cloned()
            .collect()
    });
    paginate(items, &single(&q))
}

pub async fn list_certificates(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    let query = single(&q);
    let items: Vec<Value> = sim.read(|s| filter(&s.objects.certificates, &query, &["name"]));
    let items = match query.get("has_key").map(String::as_str) {
        Some("true") => items
            .into_iter()
            .filter(|c| c["private_key_available"] == true)
            .collect(),
        Some("false") => items
            .into_iter()
            .filter(|c| c["private_key_available"] == false)
            .collect(),
        _ => items,
    };
    paginate(items, &query)
}
