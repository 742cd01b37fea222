//! The OpenAPI document: the base (info, security scheme, shared schemas) here, the paths from
//! the route registrations, and one args schema per registered job kind.

use dezky_jobs::Registry;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "Dezky Jobs", description = "Durable background jobs for the Dezky platform: enqueue, poll, operate."),
    components(schemas(Problem)),
    tags(
        (name = "jobs", description = "Enqueue and follow jobs (portal or ops token)"),
        (name = "admin", description = "Operate jobs and queues (ops token)"),
        (name = "health", description = "Probes (no token)"),
    )
)]
struct BaseDoc;

/// The document before routes are added.
pub fn base() -> utoipa::openapi::OpenApi {
    BaseDoc::openapi()
}

/// Adds the bearer scheme and each kind's args schema (`<Kind>Args`) to `api`.
pub fn finish(mut api: utoipa::openapi::OpenApi, registry: &Registry) -> utoipa::openapi::OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    for kind in registry.kinds() {
        let (name, schema) = kind.args_schema();
        components.schemas.insert(name, schema);
    }
    api
}
