//! Portal routes: enqueue (with idempotency keys), job status, search.

use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dezky_queue::clock::parse_rfc3339_ms;
use dezky_queue::{Dedup, JobFilter, JobState, NewJob};
use sha2::{Digest, Sha256};

use super::responses::{JobLookup, JsonBodyErrors, NeedsQueue, NeedsToken};
use crate::AppState;
use crate::auth::Caller;
use crate::dto::{EnqueueRequest, Enqueued, JobList, JobView, ListQuery};
use crate::extract::{JsonBody, QueryParams};
use crate::problem::Problem;

/// How long an `Idempotency-Key` keeps answering with its job.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The header that marks a replayed enqueue.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Enqueue a job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    request_body = EnqueueRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "Makes the request safe to repeat: within 24 h, the same key (per caller and kind) with the same body answers the same job; with another body, 422.")),
    responses(
        (status = 202, description = "Accepted", body = Enqueued,
            headers(("Idempotent-Replayed" = String, description = "`true` when an earlier request with this key created the job"))),
        JsonBodyErrors, NeedsToken, NeedsQueue,
    ))]
pub async fn enqueue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<EnqueueRequest>,
) -> Result<Response, Problem> {
    if let Some(route) = state
        .registry
        .get(&request.kind)
        .and_then(|k| k.settings().route)
    {
        return Err(Problem::unprocessable(format!(
            "`{}` is enqueued through {route}",
            request.kind
        )));
    }
    enqueue_request(&state, &caller, &headers, &request).await
}

/// Enqueues `request` for `caller`, honouring an `Idempotency-Key` in `headers`: what
/// `POST /v1/jobs` and the routes of route-only kinds share.
pub(crate) async fn enqueue_request(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &EnqueueRequest,
) -> Result<Response, Problem> {
    enqueue_with(state, caller, headers, request, None).await
}

/// A tenant's desired state, stored by the route that enqueues its provisioning.
#[derive(Debug)]
pub(crate) struct TenantWrite<'a> {
    pub(crate) slug: &'a str,
    pub(crate) name: &'a str,
    pub(crate) desired: &'a serde_json::Value,
}

/// [`enqueue_request`], storing `tenant` first. When the queue is in the store's database both
/// commit in one transaction; otherwise the store's write commits first, then the push (a crash
/// between them leaves the tenant without its job until reconciliation).
pub(crate) async fn enqueue_with(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: &EnqueueRequest,
    tenant: Option<TenantWrite<'_>>,
) -> Result<Response, Problem> {
    let idempotency_key = idempotency_key(headers)?;
    let mut job = validate(state, request)?;
    job.enqueued_by = Some(caller.name.clone());
    if let Some(key) = &idempotency_key {
        job.dedup = Some(Dedup {
            key: format!("idem:{}:{}:{key}", caller.name, request.kind),
            window: IDEMPOTENCY_WINDOW,
            fingerprint: Some(fingerprint(request)),
        });
    }
    let fingerprint = job.dedup.as_ref().and_then(|d| d.fingerprint.clone());
    let pushed = match tenant {
        None => state.queue.push(job).await?,
        Some(tenant) => push_with_tenant(state, tenant, job).await?,
    };
    if pushed.duplicate && pushed.existing_fingerprint != fingerprint {
        return Err(Problem::unprocessable(
            "this Idempotency-Key was already used with a different request body",
        ));
    }
    Ok(accepted(&pushed.id.0, pushed.duplicate))
}

/// Stores `tenant` and pushes `job`: in one transaction when the queue shares the store's
/// database, else one after the other.
async fn push_with_tenant(
    state: &AppState,
    tenant: TenantWrite<'_>,
    job: NewJob,
) -> Result<dezky_queue::Pushed, Problem> {
    let store = super::store(state)?;
    let now = dezky_queue::Clock::now_ms(&dezky_queue::SystemClock);
    let Some(db) = &state.shared_db else {
        store
            .put_tenant(tenant.slug, tenant.name, tenant.desired, now)
            .await
            .map_err(super::store_failed)?;
        dezky_queue::crash::point("enqueue:stored");
        return Ok(state.queue.push(job).await?);
    };
    let mut tx = store.begin_with(db).await.map_err(super::store_failed)?;
    tx.put_tenant(tenant.slug, tenant.name, tenant.desired, now)
        .await
        .map_err(super::store_failed)?;
    dezky_queue::crash::point("enqueue:stored");
    let pushed = tx
        .push(std::slice::from_ref(&job))
        .await?
        .pop()
        .ok_or_else(|| {
            Problem::from(dezky_queue::QueueError::Storage(
                "push answered nothing".into(),
            ))
        })?;
    tx.commit().await.map_err(super::store_failed)?;
    Ok(pushed)
}

/// `202` for job `id`: its status URL in the body and `Location`, and `Idempotent-Replayed:
/// true` when the job existed already.
pub(crate) fn accepted(id: &str, replayed: bool) -> Response {
    let status_url = format!("/v1/jobs/{id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Enqueued {
            id: id.to_owned(),
            status_url: status_url.clone(),
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    Ok(Some(key.to_owned()))
}

fn fingerprint(request: &EnqueueRequest) -> String {
    // serde_json maps are ordered, so equal bodies serialise equally whatever their key order.
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    Sha256::digest(&canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn validate(state: &AppState, request: &EnqueueRequest) -> Result<NewJob, Problem> {
    let kind = state.registry.get(&request.kind).ok_or_else(|| {
        Problem::unprocessable(format!(
            "unknown kind `{}`; known kinds: {}",
            request.kind,
            state.registry.names().join(", ")
        ))
    })?;
    kind.validate(&request.args).map_err(|e| {
        Problem::unprocessable(format!("args do not fit kind `{}`: {e}", request.kind))
    })?;
    let mut job = NewJob::new(kind.name(), request.args.clone());
    job.max_attempts = request.max_attempts.unwrap_or(kind.settings().max_attempts);
    if !(1..=100).contains(&job.max_attempts) {
        return Err(Problem::unprocessable(
            "max_attempts must be between 1 and 100",
        ));
    }
    job.priority = request.priority.unwrap_or(0);
    if !(-1000..=1000).contains(&job.priority) {
        return Err(Problem::unprocessable(
            "priority must be between -1000 and 1000",
        ));
    }
    if let Some(run_at) = &request.run_at {
        job.run_at = Some(parse_rfc3339_ms(run_at).ok_or_else(|| {
            Problem::unprocessable(format!("run_at `{run_at}` is not an RFC 3339 time"))
        })?);
    }
    if let Some(tenant) = &request.tenant {
        if tenant.is_empty() || tenant.len() > 128 {
            return Err(Problem::unprocessable("tenant must be 1 to 128 characters"));
        }
        job.tenant = Some(tenant.clone());
    }
    Ok(job)
}

/// A job's status, errors and result. A caller sees the jobs it enqueued (ops tokens: every
/// job); another caller's job is answered 404, as if it did not exist.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id (a ULID, on Redis followed by `.` and the queue)")),
    responses((status = 200, body = JobView), JobLookup, NeedsToken, NeedsQueue))]
pub async fn get_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let id = super::job_id(&id)?;
    let job = state
        .queue
        .get(&id)
        .await?
        .filter(|job| caller.ops || job.enqueued_by.as_deref() == Some(caller.name.as_str()))
        .ok_or_else(|| Problem::not_found(format!("no job with id {id}")))?;
    let enqueuer = job.enqueued_by.as_deref() == Some(caller.name.as_str());
    let mut view = JobView::from(job);
    view.secret = secret_for(&state, &view.id, enqueuer).await?;
    Ok(Json(view))
}

/// What a caller sees of a job's secret: the secret itself for its enqueuer, `[redacted]` for
/// ops, nothing once it is erased. A store failure is a 503, never the secret in an error.
async fn secret_for(
    state: &AppState,
    id: &str,
    enqueuer: bool,
) -> Result<Option<serde_json::Value>, Problem> {
    let Some(vault) = &state.secrets else {
        return Ok(None);
    };
    let unavailable = |e: dezky_store::StoreError| {
        tracing::warn!(job = id, error = %e, "cannot read a job's secret");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Secret unavailable",
            Some("the job's secret cannot be read now; try again".into()),
        )
    };
    if enqueuer {
        vault.open(id).await.map_err(unavailable)
    } else {
        Ok(vault
            .holds(id)
            .await
            .map_err(unavailable)?
            .then(|| serde_json::Value::from("[redacted]")))
    }
}

/// Search jobs, newest first (results are not included): a caller's own jobs (ops tokens: every
/// job).
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = JobList),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown state or bad cursor", body = Problem, content_type = "application/problem+json"),
        NeedsToken, NeedsQueue,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<JobList>, Problem> {
    let state_filter = query
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(Problem::unprocessable)?;
    let page = state
        .queue
        .list(JobFilter {
            queue: query.queue,
            state: state_filter,
            kind: query.kind,
            tenant: query.tenant,
            enqueued_by: (!caller.ops).then(|| caller.name.clone()),
            text: query.q,
            limit: super::page_limit(query.limit)?,
            cursor: query.cursor,
        })
        .await?;
    Ok(Json(JobList {
        jobs: page.jobs.into_iter().map(JobView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
