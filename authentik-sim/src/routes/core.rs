//! Brands, users and groups (API-NOTES §3–§4), with the recovery link built from the request's
//! Host and refused when the brand that Host resolves to has no recovery flow.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::{Pairs, single};
use crate::store::{EPOCH, Store, uuid};
use crate::util::{
    Answer, apply_patch, created, detail, field_error, json_body, non_field_string, not_found, ok,
    patch_where, require,
};
use crate::{Sim, brand_for_host};

const BRAND_WRITABLE: [&str; 17] = [
    "domain",
    "default",
    "branding_title",
    "branding_logo",
    "branding_favicon",
    "branding_custom_css",
    "branding_default_flow_background",
    "flow_authentication",
    "flow_invalidation",
    "flow_recovery",
    "flow_unenrollment",
    "flow_user_settings",
    "flow_device_code",
    "default_application",
    "web_certificate",
    "client_certificates",
    "attributes",
];
const BRAND_FLOWS: [&str; 6] = [
    "flow_authentication",
    "flow_invalidation",
    "flow_recovery",
    "flow_unenrollment",
    "flow_user_settings",
    "flow_device_code",
];
const USER_WRITABLE: [&str; 7] = [
    "username",
    "name",
    "is_active",
    "email",
    "attributes",
    "path",
    "type",
];

/// Every flow a brand names must exist (a unknown uuid is a 400 field error).
fn check_brand_flows(store: &Store, body: &Map<String, Value>) -> Result<(), Response> {
    for field in BRAND_FLOWS {
        if let Some(Value::String(pk)) = body.get(field)
            && !store.objects.flows.iter().any(|f| f["pk"] == pk.as_str())
        {
            return Err(field_error(
                field,
                &format!("Invalid pk \"{pk}\" - object does not exist."),
            ));
        }
    }
    Ok(())
}

pub async fn list_brands(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.brands, &["domain", "default"])
}

pub async fn get_brand(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.find(|o| &o.brands, "brand_uuid", &json!(pk), "Brand")
}

pub async fn create_brand(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["domain"])?;
    sim.write(|store, rng| {
        check_brand_flows(store, &body)?;
        if store.objects.brands.iter().any(|b| b["domain"] == body["domain"]) {
            return Err(field_error("domain", "Brand with this domain already exists."));
        }
        if body.get("default") == Some(&Value::Bool(true)) && store.objects.brands.iter().any(|b| b["default"] == true) {
            return Err(field_error("default", "Only a single brand can be set as default."));
        }
        let mut brand = json!({
            "brand_uuid": uuid(rng), "domain": "", "default": false, "branding_title": "authentik",
            "branding_logo": "/static/dist/assets/icons/icon_left_brand.svg", "branding_favicon": "/static/dist/assets/icons/icon.png",
            "branding_custom_css": "", "branding_default_flow_background": "/static/dist/assets/images/flow_background.jpg",
            "flow_authentication": null, "flow_invalidation": null, "flow_recovery": null, "flow_unenrollment": null,
            "flow_user_settings": null, "flow_device_code": null, "default_application": null, "web_certificate": null,
            "client_certificates": [], "attributes": {},
        });
        apply_patch(&mut brand, &body, &BRAND_WRITABLE);
        store.objects.brands.push(brand.clone());
        Ok(created(brand))
    })
}

pub async fn patch_brand(
    State(sim): State<Sim>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    sim.write(|store, _| {
        check_brand_flows(store, &body)?;
        let brands = &mut store.objects.brands;
        patch_where(brands, "brand_uuid", &pk, &body, &BRAND_WRITABLE, "Brand")
    })
}

fn user_json(pk: i64, uuid: &str, username: &str) -> Value {
    json!({
        "pk": pk, "username": username, "name": "", "is_active": true, "last_login": null, "date_joined": EPOCH,
        "is_superuser": false, "groups": [], "groups_obj": [], "roles": [], "roles_obj": [], "email": "",
        "avatar": "data:image/svg+xml;base64,", "attributes": {}, "uid": format!("{:x}", pk * 7919),
        "path": "users", "type": "internal", "uuid": uuid, "password_change_date": EPOCH, "last_updated": EPOCH,
    })
}

fn check_user_fields(body: &Map<String, Value>) -> Result<(), Response> {
    if let Some(v) = body.get("attributes")
        && !v.is_object()
    {
        return Err(field_error(
            "attributes",
            "Value must be a dictionary, and not contain any reserved keys.",
        ));
    }
    if let Some(Value::String(path)) = body.get("path")
        && (path.starts_with('/') || path.ends_with('/') || path.contains("//"))
    {
        return Err(field_error(
            "path",
            "No leading or trailing slashes allowed.",
        ));
    }
    if let Some(Value::String(name)) = body.get("username")
        && (name.is_empty() || name.chars().count() > 150)
    {
        return Err(field_error(
            "username",
            "Ensure this field has no more than 150 characters.",
        ));
    }
    if body.get("type").and_then(Value::as_str) == Some("internal_service_account") {
        return Err(field_error(
            "type",
            "Can't create internal service accounts",
        ));
    }
    Ok(())
}

pub async fn list_users(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.users, &["username", "email", "is_active"])
}

fn user_pk(id: &str) -> Result<i64, Response> {
    id.parse::<i64>().map_err(|_| not_found("User"))
}

pub async fn get_user(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let Ok(pk) = user_pk(&id) else {
        return not_found("User");
    };
    sim.read(|s| s.objects.users.iter().find(|u| u["pk"] == pk).cloned())
        .map_or_else(|| not_found("User"), ok)
}

pub async fn create_user(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["username", "name"]).and_then(|()| check_user_fields(&body))?;
    sim.write(|store, rng| {
        if store
            .objects
            .users
            .iter()
            .any(|u| u["username"] == body["username"])
        {
            return Err(field_error("username", "This field must be unique."));
        }
        let pk = store.next_pk();
        let mut user = user_json(pk, &uuid(rng), body["username"].as_str().unwrap_or(""));
        apply_patch(&mut user, &body, &USER_WRITABLE); // `password` is dropped, as over the real API
        let groups: Vec<Value> = body
            .get("groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for g in &groups {
            let group = store
                .objects
                .groups
                .iter_mut()
                .find(|x| x["pk"] == *g)
                .ok_or_else(|| {
                    field_error(
                        "groups",
                        &format!(
                            "Invalid pk \"{}\" - object does not exist.",
                            g.as_str().unwrap_or("")
                        ),
                    )
                })?;
            join(&mut user, group);
        }
        store.objects.users.push(user.clone());
        Ok(created(user))
    })
}

/// Makes `user` a member of `group`, on both sides: the pks, and the nested objects Authentik
/// answers with them (`groups_obj` of PartialGroups, `users_obj` of PartialUsers).
fn join(user: &mut Value, group: &mut Value) {
    push_unique(&mut group["users"], user["pk"].clone());
    push_unique(&mut user["groups"], group["pk"].clone());
    let partial = |object: &Value, fields: &[&str]| -> Value {
        fields
            .iter()
            .map(|f| ((*f).to_owned(), object[*f].clone()))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    if !user["groups_obj"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g["pk"] == group["pk"]))
    {
        let partial_group = partial(
            group,
            &["pk", "num_pk", "name", "is_superuser", "attributes"],
        );
        push_unique(&mut user["groups_obj"], partial_group);
    }
    if !group["users_obj"]
        .as_array()
        .is_some_and(|u| u.iter().any(|u| u["pk"] == user["pk"]))
    {
        let partial_user = partial(
            user,
            &[
                "pk",
                "username",
                "name",
                "is_active",
                "last_login",
                "email",
                "attributes",
                "uid",
            ],
        );
        push_unique(&mut group["users_obj"], partial_user);
    }
}

fn push_unique(list: &mut Value, item: Value) {
    if let Some(items) = list.as_array_mut()
        && !items.contains(&item)
    {
        items.push(item);
    }
}

pub async fn patch_user(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    let pk = user_pk(&id)?;
    check_user_fields(&body)?;
    sim.write(|store, _| {
        let user = store
            .objects
            .users
            .iter_mut()
            .find(|u| u["pk"] == pk)
            .ok_or_else(|| not_found("User"))?;
        apply_patch(user, &body, &USER_WRITABLE);
        Ok(ok(user.clone()))
    })
}

pub async fn set_password(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    let pk = user_pk(&id)?;
    let password = match body.get("password") {
        Some(Value::String(p)) if !p.is_empty() => p.clone(),
        Some(Value::String(_)) => {
            return Err(field_error("password", "This field may not be blank."));
        }
        _ => return Err(field_error("password", "This field is required.")),
    };
    sim.canary(&password);
    sim.write(|store, _| {
        if !store.objects.users.iter().any(|u| u["pk"] == pk) {
            return Err(not_found("User"));
        }
        store.objects.passwords.retain(|(p, _)| *p != pk);
        store.objects.passwords.push((pk, password));
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// The recovery flow of the brand `headers`' Host resolves to, or the 400 Authentik answers.
fn recovery_flow(store: &Store, headers: &HeaderMap) -> Result<Value, Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let brand = brand_for_host(&store.objects.brands, host);
    let flow_pk = brand
        .as_ref()
        .map(|b| b["flow_recovery"].clone())
        .unwrap_or(Value::Null);
    store
        .objects
        .flows
        .iter()
        .find(|f| !flow_pk.is_null() && f["pk"] == flow_pk)
        .cloned()
        .ok_or_else(|| non_field_string("No recovery flow set."))
}

/// A new recovery token for user `pk` (replacing the one before) and its link, for `host`, to
/// `flow` — both added to the canary list.
fn recovery_link(
    sim: &Sim,
    store: &mut Store,
    rng: &mut rand::rngs::StdRng,
    pk: i64,
    headers: &HeaderMap,
    flow: &Value,
) -> String {
    let key: String = (0..48)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect();
    store.objects.recovery_tokens.retain(|(p, _)| *p != pk);
    store.objects.recovery_tokens.push((pk, key.clone()));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let slug = flow["slug"].as_str().unwrap_or("");
    let link = format!("http://{host}/if/flow/{slug}/?flow_token={key}");
    sim.canary(&key);
    sim.canary(&link);
    link
}

pub async fn recovery(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(pk) = user_pk(&id) else {
        return not_found("User");
    };
    sim.write(|store, rng| {
        if !store.objects.users.iter().any(|u| u["pk"] == pk) {
            return Err(not_found("User"));
        }
        let flow = recovery_flow(store, &headers)?;
        if matches!(
            flow["authentication"].as_str(),
            Some("require_authenticated" | "require_superuser")
        ) {
            return Err(non_field_string("Recovery flow not applicable to user"));
        }
        let link = recovery_link(&sim, store, rng, pk, &headers, &flow);
        Ok(ok(json!({ "link": link })))
    })
    .unwrap_or_else(|r| r)
}

/// `POST /core/users/{id}/recovery_email/?email_stage=`: the email stage sends the user a
/// recovery link — here, into the outbox.
pub async fn recovery_email(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
    headers: HeaderMap,
) -> Response {
    let Ok(pk) = user_pk(&id) else {
        return not_found("User");
    };
    let stage = single(&q).get("email_stage").cloned();
    sim.write(|store, rng| {
        let user = store
            .objects
            .users
            .iter()
            .find(|u| u["pk"] == pk)
            .ok_or_else(|| not_found("User"))?;
        let to = user["email"].as_str().unwrap_or("").to_owned();
        if to.is_empty() {
            return Err(non_field_string("User does not have an email address set."));
        }
        let flow = recovery_flow(store, &headers)?;
        // Authentik looks the pk up among email stages only.
        let email_stage = stage.as_ref().and_then(|s| {
            store
                .objects
                .stages
                .iter()
                .find(|x| x["pk"] == s.as_str() && x["component"] == "ak-stage-email-form")
                .map(|x| x["name"].clone())
        });
        let Some(email_stage) = email_stage else {
            return Err(non_field_string("Email stage does not exist."));
        };
        let link = recovery_link(&sim, store, rng, pk, &headers, &flow);
        store
            .objects
            .outbox
            .push(json!({ "to": to, "stage": email_stage, "link": link }));
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .unwrap_or_else(|r| r)
}

fn group_json(pk: &str, num_pk: i64, name: &str) -> Value {
    json!({
        "pk": pk, "num_pk": num_pk, "name": name, "is_superuser": false, "parents": [], "parents_obj": [],
        "users": [], "users_obj": [], "attributes": {}, "roles": [], "roles_obj": [], "inherited_roles_obj": [],
        "children": [], "children_obj": [],
    })
}

pub async fn list_groups(State(sim): State<Sim>, Query(q): Query<Pairs>) -> Response {
    sim.list(&q, |o| &o.groups, &["name"])
}

pub async fn get_group(State(sim): State<Sim>, Path(pk): Path<String>) -> Response {
    sim.find(|o| &o.groups, "pk", &json!(pk), "Group")
}

pub async fn create_group(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Answer {
    let body = json_body(&headers, &body)?;
    require(&body, &["name"])?;
    sim.write(|store, rng| {
        if store
            .objects
            .groups
            .iter()
            .any(|g| g["name"] == body["name"])
        {
            return Err(field_error("name", "Group with this name already exists."));
        }
        let num_pk = store.next_pk();
        let mut group = group_json(&uuid(rng), num_pk, body["name"].as_str().unwrap_or(""));
        apply_patch(
            &mut group,
            &body,
            &["is_superuser", "attributes", "parents"],
        );
        store.objects.groups.push(group.clone());
        Ok(created(group))
    })
}

pub async fn add_user(
    State(sim): State<Sim>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = json_body(&headers, &body)?;
    let user_pk = body
        .get("pk")
        .and_then(Value::as_i64)
        .ok_or_else(|| field_error("pk", "This field is required."))?;
    sim.write(|store, _| {
        let objects = &mut store.objects;
        let Some(user) = objects.users.iter_mut().find(|u| u["pk"] == user_pk) else {
            return Err(detail(StatusCode::NOT_FOUND, "Not found."));
        };
        let group = objects
            .groups
            .iter_mut()
            .find(|g| g["pk"] == pk.as_str())
            .ok_or_else(|| not_found("Group"))?;
        join(user, group);
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
