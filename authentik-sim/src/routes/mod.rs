//! The simulated endpoints, one file per API area, and the fault admin endpoint.

mod admin;
mod core;
mod flows;
mod policies;
mod providers;

use std::collections::HashMap;

use axum::Router;
use axum::routing::{get, post};

use super::Sim;

/// Query pairs (repeated keys kept, for array filters such as `managed`).
pub type Pairs = Vec<(String, String)>;

/// The last value of each query key.
pub fn single(pairs: &Pairs) -> HashMap<String, String> {
    pairs.iter().cloned().collect()
}

/// Everything under `/api/v3`.
pub fn api() -> Router<Sim> {
    Router::new()
        .route(
            "/flows/instances/",
            get(flows::list_flows).post(flows::create_flow),
        )
        .route(
            "/flows/instances/{slug}/",
            get(flows::get_flow).patch(flows::patch_flow),
        )
        .route(
            "/flows/bindings/",
            get(flows::list_bindings).post(flows::create_binding),
        )
        .route(
            "/flows/bindings/{pk}/",
            get(flows::get_binding)
                .patch(flows::patch_binding)
                .delete(flows::delete_binding),
        )
        .route("/stages/all/", get(flows::list_stages))
        .route(
            "/core/brands/",
            get(core::list_brands).post(core::create_brand),
        )
        .route(
            "/core/brands/{pk}/",
            get(core::get_brand).patch(core::patch_brand),
        )
        .route(
            "/core/users/",
            get(core::list_users).post(core::create_user),
        )
        .route(
            "/core/users/{id}/",
            get(core::get_user).patch(core::patch_user),
        )
        .route("/core/users/{id}/set_password/", post(core::set_password))
        .route("/core/users/{id}/recovery/", post(core::recovery))
        .route(
            "/core/users/{id}/recovery_email/",
            post(core::recovery_email),
        )
        .route(
            "/core/groups/",
            get(core::list_groups).post(core::create_group),
        )
        .route("/core/groups/{pk}/", get(core::get_group))
        .route("/core/groups/{pk}/add_user/", post(core::add_user))
        .route(
            "/policies/expression/",
            get(policies::list_expression).post(policies::create_expression),
        )
        .route(
            "/policies/expression/{pk}/",
            get(policies::get_expression)
                .patch(policies::patch_expression)
                .delete(policies::delete_expression),
        )
        .route(
            "/policies/bindings/",
            get(policies::list_policy_bindings).post(policies::create_policy_binding),
        )
        .route(
            "/policies/bindings/{pk}/",
            get(policies::get_policy_binding)
                .patch(policies::patch_policy_binding)
                .delete(policies::delete_policy_binding),
        )
        .route(
            "/providers/oauth2/",
            get(providers::list_providers).post(providers::create_provider),
        )
        .route(
            "/providers/oauth2/{id}/",
            get(providers::get_provider).patch(providers::patch_provider),
        )
        .route(
            "/core/applications/",
            get(providers::list_applications).post(providers::create_application),
        )
        .route(
            "/core/applications/{slug}/",
            get(providers::get_application).patch(providers::patch_application),
        )
        .route(
            "/propertymappings/provider/scope/",
            get(policies::list_scope_mappings),
        )
        .route(
            "/crypto/certificatekeypairs/",
            get(policies::list_certificates),
        )
        .route("/admin/version/", get(admin::version))
        .route("/managed/blueprints/", get(admin::list_blueprints))
}

/// The admin endpoints, faults and request statistics (their own token).
pub fn admin() -> Router<Sim> {
    Router::new()
        .route(
            "/_sim/faults",
            get(admin::get_faults).put(admin::put_faults),
        )
        .route("/_sim/stats", get(admin::get_stats))
        .route("/_sim/outbox", get(admin::get_outbox))
}
