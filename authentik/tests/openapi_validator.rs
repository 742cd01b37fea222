//! The validator against Authentik's own schema (`shared/authentik/openapi-subset.yaml`): it
//! accepts what Authentik sends, and it catches a nested field of the wrong type.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step panics"
)]

use dezky_authentik::openapi::{Direction, OpenApi};
use serde_json::json;

fn spec() -> OpenApi {
    OpenApi::as_used().expect("the OpenAPI subset and its extension")
}

fn flow(pk: serde_json::Value) -> serde_json::Value {
    json!({
        "pk": pk, "policybindingmodel_ptr_id": "5f0e1a8c-0000-4000-8000-000000000001",
        "name": "Recovery", "slug": "default-dezky-recovery", "title": "Recovery",
        "designation": "recovery", "background": "", "background_url": "/static/dist/assets/images/flow_background.jpg",
        "background_themed_urls": null, "stages": [], "policies": [],
        "cache_count": 0, "policy_engine_mode": "any", "compatibility_mode": false,
        "export_url": "/api/v3/flows/instances/default-dezky-recovery/export/",
        "layout": "stacked", "denied_action": "message_continue", "authentication": "require_unauthenticated",
    })
}

fn page(results: Vec<serde_json::Value>) -> serde_json::Value {
    let n = results.len();
    json!({
        "pagination": {"next": 0, "previous": 0, "count": n, "current": 1, "total_pages": 1, "start_index": 1, "end_index": n},
        "results": results, "autocomplete": {},
    })
}

#[test]
fn paths_resolve_to_their_templates() {
    let spec = spec();
    assert_eq!(
        spec.template_for("/api/v3/core/users/42/recovery/")
            .as_deref(),
        Some("/core/users/{id}/recovery/")
    );
    assert_eq!(
        spec.template_for("/core/users/42/").as_deref(),
        Some("/core/users/{id}/")
    );
    assert_eq!(
        spec.template_for("/flows/instances/?designation=recovery")
            .as_deref(),
        Some("/flows/instances/")
    );
    assert_eq!(spec.template_for("/nothing/here/"), None);
}

#[test]
fn an_authentik_shaped_list_passes() {
    let spec = spec();
    let body = page(vec![flow(json!("5f0e1a8c-0000-4000-8000-000000000001"))]);
    spec.check_response("GET", "/flows/instances/", 200, &body)
        .unwrap();
}

#[test]
fn a_broken_nested_field_is_caught_with_its_path() {
    let spec = spec();
    let body = page(vec![flow(json!(42))]);
    let errors = spec
        .check_response("GET", "/flows/instances/", 200, &body)
        .unwrap_err();
    assert!(errors.iter().any(|e| e.at == "/results/0/pk"), "{errors:?}");
    let mut bad_enum = flow(json!("5f0e1a8c-0000-4000-8000-000000000001"));
    bad_enum["designation"] = json!("nonsense");
    let errors = spec
        .check_response("GET", "/flows/instances/", 200, &page(vec![bad_enum]))
        .unwrap_err();
    assert!(
        errors.iter().any(|e| e.at == "/results/0/designation"),
        "{errors:?}"
    );
}

#[test]
fn requests_are_checked_for_required_fields_and_ignore_read_only_ones() {
    let spec = spec();
    spec.check_request(
        "POST",
        "/core/users/",
        &json!({"username": "ops", "name": ""}),
    )
    .unwrap();
    let errors = spec
        .check_request("POST", "/core/users/", &json!({"name": "no username"}))
        .unwrap_err();
    assert!(
        errors.iter().any(|e| e.problem.contains("\"username\"")),
        "{errors:?}"
    );
    spec.check_request(
        "PATCH",
        "/core/brands/5f0e1a8c-0000-4000-8000-000000000001/",
        &json!({"flow_recovery": null}),
    )
    .unwrap();
    let errors = spec
        .check_request(
            "PATCH",
            "/core/brands/5f0e1a8c-0000-4000-8000-000000000001/",
            &json!({"flow_recovery": "x"}),
        )
        .unwrap_err();
    assert!(
        errors.iter().any(|e| e.at == "/flow_recovery"),
        "{errors:?}"
    );
}

#[test]
fn the_recorded_deviation_is_accepted_and_only_it() {
    let spec = spec();
    let no_flow = json!({"non_field_errors": "No recovery flow set."});
    spec.check_response("POST", "/core/users/7/recovery/", 400, &no_flow)
        .unwrap();
    spec.check_response(
        "POST",
        "/core/users/7/recovery/",
        400,
        &json!({"non_field_errors": ["x"]}),
    )
    .unwrap();
    let wrong = json!({"non_field_errors": ["x"], "code": 3});
    assert!(
        spec.check_response("POST", "/core/users/7/recovery/", 400, &wrong)
            .is_err()
    );
    assert!(
        spec.check_named("GenericError", &json!({}), Direction::Response)
            .is_err(),
        "detail is required"
    );
}

#[test]
fn a_null_read_only_relation_is_the_second_recorded_deviation() {
    let spec = spec();
    let binding = json!({
        "pk": "5f0e1a8c-0000-4000-8000-000000000001", "policy": "5f0e1a8c-0000-4000-8000-000000000002",
        "group": null, "user": null, "policy_obj": {
            "pk": "5f0e1a8c-0000-4000-8000-000000000002", "name": "guard", "component": "c", "verbose_name": "v",
            "verbose_name_plural": "v", "meta_model_name": "m", "bound_to": 1
        },
        "group_obj": null, "user_obj": null, "target": "5f0e1a8c-0000-4000-8000-000000000003", "order": 0
    });
    spec.check_named("PolicyBinding", &binding, Direction::Response)
        .unwrap();
    let mut wrong = binding.clone();
    wrong["order"] = json!(null);
    assert!(
        spec.check_named("PolicyBinding", &wrong, Direction::Response)
            .is_err(),
        "other nulls still fail"
    );
}

#[test]
fn patterns_and_formats_are_checked() {
    let spec = spec();
    let bad_slug = json!({"name": "ACME", "slug": "no spaces here"});
    let errors = spec
        .check_request("POST", "/core/applications/", &bad_slug)
        .unwrap_err();
    assert!(errors.iter().any(|e| e.at == "/slug"), "{errors:?}");
    spec.check_request(
        "POST",
        "/core/applications/",
        &json!({"name": "ACME", "slug": "dezky-tenant-acme"}),
    )
    .unwrap();
    let bad_email = json!({"username": "ops", "name": "Ops", "email": "not an email"});
    let errors = spec
        .check_request("POST", "/core/users/", &bad_email)
        .unwrap_err();
    assert!(errors.iter().any(|e| e.at == "/email"), "{errors:?}");
    // Blank is how Authentik stores "none" in a URL or email field (the third deviation).
    spec.check_request(
        "POST",
        "/core/users/",
        &json!({"username": "ops", "name": "Ops", "email": ""}),
    )
    .unwrap();
    let bad_uri = json!({"name": "ACME", "slug": "acme", "meta_launch_url": "not a uri"});
    let errors = spec
        .check_request("POST", "/core/applications/", &bad_uri)
        .unwrap_err();
    assert!(
        errors.iter().any(|e| e.at == "/meta_launch_url"),
        "{errors:?}"
    );
}

#[test]
fn the_extension_adds_the_patch_calls_made_from_the_create_schemas() {
    let spec = spec();
    for (patched, create) in [
        ("PatchedOAuth2ProviderRequest", "OAuth2ProviderRequest"),
        ("PatchedApplicationRequest", "ApplicationRequest"),
    ] {
        let mut expected = spec.schema(create).unwrap().clone();
        expected.as_object_mut().unwrap().remove("required");
        assert_eq!(spec.schema(patched), Some(&expected), "{patched}");
    }
    spec.check_request(
        "PATCH",
        "/providers/oauth2/7/",
        &json!({"redirect_uris": [{"matching_mode": "strict", "url": "https://a.example/cb"}]}),
    )
    .unwrap();
    let errors = spec
        .check_request(
            "PATCH",
            "/providers/oauth2/7/",
            &json!({"redirect_uris": [{"matching_mode": "sometimes", "url": "x"}]}),
        )
        .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.at == "/redirect_uris/0/matching_mode"),
        "{errors:?}"
    );
    spec.check_request(
        "PATCH",
        "/core/applications/dezky-tenant-acme/",
        &json!({"provider": null, "name": "ACME Ltd"}),
    )
    .unwrap();
}

#[test]
fn an_extension_never_replaces_what_the_subset_has() {
    let dir = tempfile::tempdir().unwrap();
    let clash = dir.path().join("clash.yaml");
    std::fs::write(
        &clash,
        "paths:\n  /core/users/:\n    get:\n      operationId: mine\n",
    )
    .unwrap();
    let subset = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/authentik/openapi-subset.yaml"
    );
    let error = OpenApi::load_all(&[std::path::Path::new(subset), &clash]).unwrap_err();
    assert!(error.to_string().contains("given twice"), "{error}");
}
