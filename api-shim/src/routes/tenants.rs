//! Routes of the Authentik jobs: tenants (desired state kept in the store, provisioning
//! enqueued), operator invites and the recovery-flow seeding. Each validates its body as its
//! kind does, enqueues through the same path as `POST /v1/jobs` (so an `Idempotency-Key` works
//! the same) and answers `202` with the job. These kinds are enqueued only here.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dezky_jobs::kinds::invite::InviteOperatorArgs;
use dezky_jobs::kinds::tenant::ProvisionTenantArgs;
use dezky_jobs::kinds::validate::{SLUG_PATTERN, is_slug};
use dezky_store::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::jobs::{TenantWrite, enqueue_request, enqueue_with};
use super::responses::{JsonBodyErrors, NeedsQueue, NeedsToken};
use super::{store, store_failed};
use crate::AppState;
use crate::auth::Caller;
use crate::dto::{EnqueueRequest, Enqueued};
use crate::extract::{JsonBody, QueryParams};
use crate::problem::Problem;

/// A tenant as stored: what it should have, what each step did, the Authentik ids it got.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its desired state (the body it was put with).
    #[schema(value_type = Object)]
    pub desired: serde_json::Value,
    /// Per step, what became of it (`{"status": "done", "at": …}`).
    #[schema(value_type = Object)]
    pub steps: serde_json::Value,
    /// Per object, its Authentik id.
    #[schema(value_type = Object)]
    pub authentik: serde_json::Value,
    /// When it was first put (ms since the epoch).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// The newest `provision-tenant` job for it (shown for one tenant, not in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job: Option<LastJob>,
}

/// A tenant's newest provisioning job, in short.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastJob {
    /// Its id (`GET /v1/jobs/{id}` for the rest).
    pub id: String,
    /// Its state.
    #[schema(value_type = String)]
    pub state: dezky_queue::JobState,
    /// Its attempt so far.
    pub attempt: u32,
    /// When it was enqueued (ms since the epoch).
    pub created_at: i64,
    /// When it ended, if it did.
    pub finished_at: Option<i64>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            slug: t.slug,
            name: t.name,
            desired: t.desired.0,
            steps: t.steps.0,
            authentik: t.authentik.0,
            created_at: t.created_at,
            updated_at: t.updated_at,
            last_job: None,
        }
    }
}

/// A page of tenants.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    /// Tenants by slug.
    pub tenants: Vec<TenantView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `GET /v1/tenants` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Page size, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub cursor: Option<String>,
}

/// Checks `body` as kind `kind` reads it (422 when it does not fit).
fn checked<T: serde::de::DeserializeOwned>(
    kind: &str,
    body: &serde_json::Value,
) -> Result<T, Problem> {
    T::deserialize(body)
        .map_err(|e| Problem::unprocessable(format!("the body does not fit `{kind}`: {e}")))
}

async fn enqueue_kind(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    kind: &str,
    args: serde_json::Value,
    tenant: Option<String>,
) -> Result<Response, Problem> {
    let request = EnqueueRequest {
        kind: kind.to_owned(),
        args,
        run_at: None,
        priority: None,
        max_attempts: None,
        tenant,
    };
    enqueue_request(state, caller, headers, &request).await
}

/// Stores the tenant's desired state and enqueues its provisioning.
async fn put_and_provision(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: serde_json::Value,
    create_only: bool,
) -> Result<Response, Problem> {
    let args: ProvisionTenantArgs = checked("provision-tenant", &body)?;
    let store = store(state)?;
    let existing = store.tenant(&args.slug).await.map_err(store_failed)?;
    if create_only && existing.as_ref().is_some_and(|t| t.desired.0 != body) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "Tenant exists",
            Some(format!(
                "tenant `{}` exists with another desired state; PUT /v1/tenants/{} changes it",
                args.slug, args.slug
            )),
        ));
    }
    let request = EnqueueRequest {
        kind: "provision-tenant".to_owned(),
        args: body.clone(),
        run_at: None,
        priority: None,
        max_attempts: None,
        tenant: Some(args.slug.clone()),
    };
    let tenant = TenantWrite {
        slug: &args.slug,
        name: &args.name,
        desired: &body,
    };
    enqueue_with(state, caller, headers, &request, Some(tenant)).await
}

/// Create a tenant: its desired state is stored and `provision-tenant` enqueued.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body = ProvisionTenantArgs,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "As for `POST /v1/jobs`.")),
    responses(
        (status = 202, description = "Accepted", body = Enqueued),
        (status = 409, description = "The tenant exists with another desired state", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors, NeedsToken, NeedsQueue,
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, Problem> {
    put_and_provision(&state, &caller, &headers, body, true).await
}

/// Change a tenant's desired state (or create it): stored, and `provision-tenant` enqueued to
/// converge Authentik to it. The body is the desired state without the slug (the path's).
#[utoipa::path(put, path = "/v1/tenants/{slug}", tag = "tenants", security(("bearer" = [])),
    request_body = ProvisionTenantArgs,
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", description = "The tenant; the body's `slug` must be the same"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "As for `POST /v1/jobs`.")),
    responses(
        (status = 202, description = "Accepted", body = Enqueued),
        (status = 404, description = "Not a tenant slug", body = Problem, content_type = "application/problem+json"),
        JsonBodyErrors, NeedsToken, NeedsQueue,
    ))]
pub async fn put_tenant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, Problem> {
    if !is_slug(&slug) {
        return Err(Problem::not_found(format!("no tenant `{slug}`")));
    }
    let mut body = body;
    match body.get("slug") {
        None => {
            if let Some(fields) = body.as_object_mut() {
                fields.insert("slug".into(), slug.clone().into());
            }
        }
        Some(given) if *given != slug.as_str() => {
            return Err(Problem::unprocessable(
                "the body's slug differs from the path's",
            ));
        }
        Some(_) => {}
    }
    put_and_provision(&state, &caller, &headers, body, false).await
}

/// A tenant: desired state, each step's status, Authentik ids.
#[utoipa::path(get, path = "/v1/tenants/{slug}", tag = "tenants", security(("bearer" = [])),
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")),
    responses(
        (status = 200, body = TenantView),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        NeedsToken, NeedsQueue,
    ))]
pub async fn get_tenant(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<TenantView>, Problem> {
    let missing = || Problem::not_found(format!("no tenant `{slug}`"));
    if !is_slug(&slug) {
        return Err(missing());
    }
    let tenant = store(&state)?
        .tenant(&slug)
        .await
        .map_err(store_failed)?
        .ok_or_else(missing)?;
    let newest = state
        .queue
        .list(dezky_queue::JobFilter {
            kind: Some("provision-tenant".into()),
            tenant: Some(slug.clone()),
            limit: 1,
            ..dezky_queue::JobFilter::default()
        })
        .await?;
    let mut view = TenantView::from(tenant);
    view.last_job = newest.jobs.into_iter().next().map(|j| LastJob {
        id: j.id.0,
        state: j.state,
        attempt: j.attempt,
        created_at: j.created_at,
        finished_at: j.finished_at,
    });
    Ok(Json(view))
}

/// Tenants by slug, a page at a time.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    params(TenantQuery),
    responses(
        (status = 200, body = TenantList),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        NeedsToken, NeedsQueue,
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TenantQuery>,
) -> Result<Json<TenantList>, Problem> {
    let limit = super::page_limit(query.limit)?;
    if query.cursor.as_deref().is_some_and(|c| !is_slug(c)) {
        return Err(Problem::unprocessable(format!(
            "cursor must match {SLUG_PATTERN}"
        )));
    }
    let after = query.cursor.unwrap_or_default();
    let tenants = store(&state)?
        .tenants(&after, u32::try_from(limit).unwrap_or(500))
        .await
        .map_err(store_failed)?;
    let next_cursor = (tenants.len() == limit)
        .then(|| tenants.last().map(|t| t.slug.clone()))
        .flatten();
    Ok(Json(TenantList {
        tenants: tenants.into_iter().map(TenantView::from).collect(),
        next_cursor,
    }))
}

/// Invite an operator: `invite-operator` enqueued. With `delivery: link` (default) the job's
/// secret result holds the recovery link, for this caller only.
#[utoipa::path(post, path = "/v1/operators/invite", tag = "operators", security(("bearer" = [])),
    request_body = InviteOperatorArgs,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "As for `POST /v1/jobs`.")),
    responses(
        (status = 202, description = "Accepted", body = Enqueued),
        JsonBodyErrors, NeedsToken, NeedsQueue,
    ))]
pub async fn invite_operator(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, Problem> {
    let args: InviteOperatorArgs = checked("invite-operator", &body)?;
    enqueue_kind(
        &state,
        &caller,
        &headers,
        "invite-operator",
        body,
        args.tenant,
    )
    .await
}

/// Seed (or repair) the recovery flow and set it on every brand: `seed-recovery-flow` enqueued.
#[utoipa::path(post, path = "/v1/seed/recovery-flow", tag = "operators", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "As for `POST /v1/jobs`.")),
    responses(
        (status = 202, description = "Accepted", body = Enqueued),
        (status = 400, description = "A bad header", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used with another request", body = Problem, content_type = "application/problem+json"),
        NeedsToken, NeedsQueue,
    ))]
pub async fn seed_recovery_flow(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    enqueue_kind(
        &state,
        &caller,
        &headers,
        "seed-recovery-flow",
        serde_json::json!({}),
        None,
    )
    .await
}
