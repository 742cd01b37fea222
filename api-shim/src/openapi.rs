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

/// Adds the bearer scheme and each kind's args schema (`<Kind>Args`) to `api`, and makes the
/// enqueue body say what the server enforces: one variant per kind, whose `kind` is that name
/// and whose `args` follow that kind's schema (required when the schema requires a field, as
/// absent args are read as `{}`). A client generated from the document, or a fuzzer trusting it,
/// then sends nothing the server refuses.
///
/// `backend` (`sqlite`, `redis`) decides the form of search cursors, which the document states
/// too: a cursor the backend could not have made is refused.
pub fn finish(
    mut api: utoipa::openapi::OpenApi,
    registry: &Registry,
    backend: &str,
) -> serde_json::Value {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let mut args = Vec::new();
    for kind in registry.kinds() {
        let (name, schema) = kind.args_schema();
        // A route-only kind is documented by its route, not as a variant of `POST /v1/jobs`.
        if kind.settings().route.is_none() {
            args.push((kind.name(), name.clone()));
        }
        components.schemas.insert(name, schema);
    }
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    enqueue_variants(&mut doc, &args);
    tenant_change(&mut doc);
    if let Some(parameters) = doc["paths"]["/v1/jobs"]["get"]["parameters"].as_array_mut() {
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "cursor") {
            parameter["schema"]["pattern"] = serde_json::json!(cursor_pattern(backend));
        }
    }
    doc
}

/// What a search cursor looks like on `backend`: SQLite's is a row number, Redis's a job id.
fn cursor_pattern(backend: &str) -> &'static str {
    match backend {
        "sqlite" => "^[0-9]{1,18}$",
        _ => "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}(\\.[A-Za-z0-9_.:-]{1,100})?$",
    }
}

/// Replaces the `EnqueueRequest` schema by one variant per kind (`kind`, args schema name).
fn enqueue_variants(doc: &mut serde_json::Value, kinds: &[(&'static str, String)]) {
    let schemas = &mut doc["components"]["schemas"];
    let base = schemas["EnqueueRequest"].clone();
    let variants: Vec<serde_json::Value> = kinds
        .iter()
        .map(|(kind, args)| {
            let mut variant = base.clone();
            variant["title"] = serde_json::json!(kind);
            variant["properties"]["kind"] = serde_json::json!({
                "type": "string", "const": kind, "description": "The job kind."
            });
            variant["properties"]["args"] =
                serde_json::json!({ "$ref": format!("#/components/schemas/{args}") });
            let args_required = schemas[args.as_str()]["required"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
            if args_required {
                variant["required"] = serde_json::json!(["kind", "args"]);
            }
            variant
        })
        .collect();
    schemas["EnqueueRequest"] = serde_json::json!({
        "description": base["description"],
        "oneOf": variants,
    });
}

/// The body of `PUT /v1/tenants/{slug}`: the tenant's desired state without its slug, which the
/// path names (the route takes a `slug` that equals the path's, and refuses another). Made from
/// `ProvisionTenantArgs`, so the two never differ otherwise.
fn tenant_change(doc: &mut serde_json::Value) {
    let Some(mut change) = doc["components"]["schemas"]
        .get("ProvisionTenantArgs")
        .cloned()
    else {
        return;
    };
    if let Some(properties) = change["properties"].as_object_mut() {
        properties.remove("slug");
    }
    if let Some(required) = change["required"].as_array_mut() {
        required.retain(|r| r != "slug");
    }
    change["description"] = serde_json::json!(
        "The tenant's desired state; the path names the tenant (a `slug` given anyway must be the path's)."
    );
    doc["components"]["schemas"]["TenantChange"] = change;
    let body = &mut doc["paths"]["/v1/tenants/{slug}"]["put"]["requestBody"];
    if body.is_object() {
        body["content"]["application/json"]["schema"] =
            serde_json::json!({ "$ref": "#/components/schemas/TenantChange" });
    }
}
