//! The dashboard's read-only pages: the overview (and its live numbers as JSON), a job, the
//! schedules, and the confirmation of a bulk action.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dezky_queue::{JobId, JobState};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::problem_page;
use super::redact::pretty;
use super::search::{SearchQuery, encode, follow};
use super::session::Signed;
use super::templates::page;
use super::views::{base, count as count_of, span, when};
use crate::AppState;
use crate::problem::Problem;

/// The overview's windows of recent endings.
const WINDOWS: [Duration; 2] = [Duration::from_secs(300), Duration::from_secs(3600)];

/// One queue's line on the overview.
#[derive(Debug, Serialize)]
struct QueueLine {
    name: String,
    paused: bool,
    states: Vec<StateCount>,
    succeeded_5m: u64,
    succeeded_1h: u64,
    dead_5m: u64,
    dead_1h: u64,
    dead: u64,
    oldest: String,
}

#[derive(Debug, Serialize)]
struct StateCount {
    state: &'static str,
    count: u64,
}

/// A schedule's line.
#[derive(Debug, Serialize)]
struct ScheduleLine {
    name: String,
    kind: String,
    expression: String,
    next_tick: String,
    last_tick: String,
    last_outcome: String,
    last_job: Option<String>,
    last_job_state: String,
}

/// An audit entry's line.
#[derive(Debug, Serialize)]
struct AuditLine {
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

impl From<dezky_store::AuditEntry> for AuditLine {
    fn from(e: dezky_store::AuditEntry) -> Self {
        Self {
            at: when(Some(e.at)),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        }
    }
}

/// What the overview shows of the queues and the gate (the part that refreshes live).
async fn queue_lines(state: &AppState) -> Result<(Vec<QueueLine>, &'static str), Problem> {
    let counts = state.queue.counts().await?;
    let activity = state.queue.activity(&WINDOWS).await?;
    let lines = counts
        .into_iter()
        .map(|c| {
            let a = activity.iter().find(|a| a.queue == c.queue);
            let ended = |i: usize| {
                a.and_then(|a| a.finished.get(i))
                    .copied()
                    .unwrap_or_default()
            };
            QueueLine {
                paused: c.paused,
                states: JobState::ALL
                    .iter()
                    .map(|s| StateCount {
                        state: s.as_str(),
                        count: c.get(*s),
                    })
                    .collect(),
                succeeded_5m: ended(0).succeeded,
                succeeded_1h: ended(1).succeeded,
                dead_5m: ended(0).dead,
                dead_1h: ended(1).dead,
                dead: c.get(JobState::Dead),
                oldest: a
                    .and_then(|a| a.oldest_available_age)
                    .map_or_else(|| "—".to_owned(), span),
                name: c.queue,
            }
        })
        .collect();
    let gate_key = dezky_jobs::Dependency::Authentik.gate_key();
    let gate = if state.queue.lock_held(&gate_key).await? {
        "closed"
    } else {
        "open"
    };
    Ok((lines, gate))
}

async fn schedule_lines(state: &AppState) -> Result<Vec<ScheduleLine>, Problem> {
    if state.store.is_none() {
        return Ok(Vec::new());
    }
    Ok(crate::routes::schedules::schedule_views(state)
        .await?
        .into_iter()
        .map(|s| ScheduleLine {
            next_tick: when(s.next_tick),
            last_tick: when(s.last_tick),
            last_outcome: s.last_outcome.unwrap_or_default(),
            last_job_state: s
                .last_job
                .as_ref()
                .map(|j| j.state.clone())
                .unwrap_or_default(),
            last_job: s.last_job.map(|j| j.id),
            name: s.name,
            kind: s.kind,
            expression: s.expression,
        })
        .collect())
}

/// The newest actions on targets starting with `prefix` (`""`: all).
async fn audit_lines(state: &AppState, prefix: &str) -> Result<Vec<AuditLine>, Problem> {
    let Some(store) = &state.store else {
        return Ok(Vec::new());
    };
    Ok(store
        .actions(prefix, 20)
        .await
        .map_err(crate::routes::store_failed)?
        .into_iter()
        .map(AuditLine::from)
        .collect())
}

/// A tenant's provisioning status, from its steps: `provisioned`, `not started`, or the steps
/// not done yet with their status.
fn tenant_status(steps: &serde_json::Value) -> String {
    let Some(steps) = steps.as_object().filter(|s| !s.is_empty()) else {
        return "not started".into();
    };
    let open: Vec<String> = steps
        .iter()
        .filter_map(|(step, record)| {
            let status = record.get("status").and_then(|s| s.as_str()).unwrap_or("?");
            (status != "done").then(|| format!("{step}: {status}"))
        })
        .collect();
    if open.is_empty() {
        "provisioned".into()
    } else {
        open.join(", ")
    }
}

/// `GET /ui/`.
pub async fn overview(State(state): State<AppState>, signed: Signed) -> Result<Response, Response> {
    let (queues, gate) = queue_lines(&state).await.map_err(problem_page)?;
    let schedules = schedule_lines(&state).await.map_err(problem_page)?;
    let tenants: Vec<BTreeMap<&str, String>> = match &state.store {
        None => Vec::new(),
        Some(store) => store
            .tenants("", 50)
            .await
            .map_err(|e| problem_page(crate::routes::store_failed(e)))?
            .into_iter()
            .map(|t| {
                BTreeMap::from([
                    ("status", tenant_status(&t.steps.0)),
                    ("slug", t.slug),
                    ("name", t.name),
                ])
            })
            .collect(),
    };
    let audit = audit_lines(&state, "").await.map_err(problem_page)?;
    Ok(page(
        StatusCode::OK,
        "overview.html",
        context! {
            queues => queues,
            gate => gate,
            schedules => schedules,
            tenants => tenants,
            audit => audit,
            now => when(Some(super::now_ms())),
            live => true,
            ..base(&signed, "Overview", "overview")
        },
    ))
}

/// `GET /ui/overview.json`: the overview's live numbers, by the `data-live` names the page
/// gives them.
pub async fn overview_json(
    State(state): State<AppState>,
    _signed: Signed,
) -> Result<Response, Problem> {
    let (queues, gate) = queue_lines(&state).await?;
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for q in queues {
        for s in &q.states {
            values.insert(format!("{}/{}", q.name, s.state), s.count.to_string());
        }
        for (name, n) in [
            ("succeeded_5m", q.succeeded_5m),
            ("succeeded_1h", q.succeeded_1h),
            ("dead_5m", q.dead_5m),
            ("dead_1h", q.dead_1h),
        ] {
            values.insert(format!("{}/{name}", q.name), n.to_string());
        }
        values.insert(format!("{}/oldest", q.name), q.oldest);
    }
    values.insert("gate/authentik".into(), gate.into());
    values.insert("now".into(), when(Some(super::now_ms())));
    Ok(Json(values).into_response())
}

/// One entry of a job's timeline.
#[derive(Debug, Serialize)]
struct Moment {
    at_ms: i64,
    at: String,
    what: String,
    duration: String,
    detail: String,
}

/// A job's attempts (from the run history) and what the queue recorded besides them (lost
/// leases, discards), oldest first.
async fn timeline(state: &AppState, job: &dezky_queue::Job) -> Result<Vec<Moment>, Problem> {
    let runs = match &state.store {
        Some(store) => store
            .runs(&job.id.0)
            .await
            .map_err(crate::routes::store_failed)?,
        None => Vec::new(),
    };
    let mut moments: Vec<Moment> = runs
        .iter()
        .map(|r| Moment {
            at_ms: r.started_at,
            at: when(Some(r.started_at)),
            what: format!(
                "Attempt {}: {}",
                r.attempt,
                r.outcome.as_deref().unwrap_or("running")
            ),
            duration: r
                .finished_at
                .map(|f| span(Duration::from_millis((f - r.started_at).max(0) as u64)))
                .unwrap_or_default(),
            detail: r.error.clone().unwrap_or_default(),
        })
        .collect();
    for e in &job.errors {
        // A run that ended already tells its error; lost leases and discards happen outside
        // any run's end.
        let told = !matches!(e.class.as_str(), "lease_expired" | "discarded")
            && runs
                .iter()
                .any(|r| r.attempt as u32 == e.attempt && r.finished_at.is_some());
        if !told {
            moments.push(Moment {
                at_ms: e.at,
                at: when(Some(e.at)),
                what: format!("Attempt {}: {}", e.attempt, e.class),
                duration: String::new(),
                detail: e.message.clone(),
            });
        }
    }
    moments.sort_by_key(|m| m.at_ms);
    Ok(moments)
}

/// The actions a job in `state` allows: (path, label).
fn actions_for(state: JobState) -> Vec<BTreeMap<&'static str, &'static str>> {
    let mut actions = Vec::new();
    let mut add = |name, label| actions.push(BTreeMap::from([("name", name), ("label", label)]));
    if matches!(
        state,
        JobState::Scheduled | JobState::Dead | JobState::Cancelled
    ) {
        add("retry", "Retry now");
    }
    if state.is_unfinished() {
        add("cancel", "Cancel");
        add("discard", "Discard");
    } else {
        add("delete", "Delete");
    }
    actions
}

/// `GET /ui/jobs/{id}`.
pub async fn job(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let job = match JobId::parse(&id) {
        Some(id) => state
            .queue
            .get(&id)
            .await
            .map_err(|e| problem_page(e.into()))?,
        None => None,
    };
    let Some(job) = job else {
        return Err(problem_page(Problem::not_found(format!(
            "no job with id {id}"
        ))));
    };
    let sealed = match &state.secrets {
        Some(vault) => vault.holds(&job.id.0).await.unwrap_or(false),
        None => false,
    };
    let moments = timeline(&state, &job).await.map_err(problem_page)?;
    let audit = audit_lines(&state, &job.id.0).await.map_err(problem_page)?;
    let view = context! {
        id => job.id.0,
        kind => job.kind,
        queue => job.queue,
        state => job.state.as_str(),
        cancel_requested => job.cancel_requested,
        attempt => job.attempt,
        max_attempts => job.max_attempts,
        snoozes => job.snoozes,
        priority => job.priority,
        tenant => job.tenant.unwrap_or_default(),
        enqueued_by => job.enqueued_by.unwrap_or_default(),
        created_at => when(Some(job.created_at)),
        run_at => when(Some(job.run_at)),
        finished_at => when(job.finished_at),
        worker => if job.state == JobState::Running { job.worker.clone().unwrap_or_default() } else { String::new() },
        args => pretty(&job.args),
        result => job.result.as_ref().map_or_else(|| "none".to_owned(), pretty),
        sealed => sealed,
    };
    Ok(page(
        StatusCode::OK,
        "job.html",
        context! {
            job => view,
            actions => actions_for(job.state),
            timeline => moments,
            audit => audit,
            ..base(&signed, "Job", "jobs")
        },
    ))
}

/// `GET /ui/schedules`.
pub async fn schedules(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, Response> {
    let schedules = schedule_lines(&state).await.map_err(problem_page)?;
    let audit = audit_lines(&state, "schedule:")
        .await
        .map_err(problem_page)?;
    Ok(page(
        StatusCode::OK,
        "schedules.html",
        context! {
            schedules => schedules,
            audit => audit,
            ..base(&signed, "Schedules", "schedules")
        },
    ))
}

/// A bulk action as the confirmation and its form carry it.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkQuery {
    /// `retry` or `delete`.
    #[serde(default)]
    pub action: String,
    /// The dead jobs it touches.
    #[serde(flatten)]
    pub search: SearchQuery,
}

impl BulkQuery {
    /// The action, and its verb for people.
    pub fn action(&self) -> Result<(dezky_queue::BulkAction, &'static str), Problem> {
        match self.action.as_str() {
            "retry" => Ok((dezky_queue::BulkAction::Retry, "Retry")),
            "delete" => Ok((dezky_queue::BulkAction::Delete, "Delete")),
            _ => Err(Problem::unprocessable("action must be retry or delete")),
        }
    }

    /// The filter it applies to (dead jobs only).
    pub fn filter(&self) -> Result<dezky_queue::JobFilter, Problem> {
        let mut filter = self.search.filter()?;
        filter.state = Some(JobState::Dead);
        filter.cursor = None;
        Ok(filter)
    }

    /// The filter in words.
    pub fn describe(&self) -> String {
        let mut params = self.search.params();
        params.remove("state");
        if params.is_empty() {
            return "every dead job".into();
        }
        params
            .iter()
            .map(|(k, v)| format!("{} “{v}”", if *k == "q" { "text" } else { k }))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The dead jobs' list, to go back to.
    pub fn back(&self) -> String {
        let mut params = self.search.params();
        params.insert("state", "dead".into());
        format!("/ui/jobs?{}", encode(&params))
    }
}

/// Most dead jobs a confirmation counts before saying "at least".
const COUNT_CAP: usize = 10_000;

/// `GET /ui/bulk`: how many dead jobs the action would touch, and the form that does it.
pub async fn bulk_confirm(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<BulkQuery>,
) -> Result<Response, Response> {
    let (_, verb) = query.action().map_err(problem_page)?;
    let filter = query.filter().map_err(problem_page)?;
    let found = follow(&state, filter, COUNT_CAP, Duration::from_secs(2))
        .await
        .map_err(problem_page)?;
    let n = found.jobs.len();
    let count = match (n, found.next_cursor.is_some()) {
        (0, false) => "No dead job matches: nothing to do.".to_owned(),
        (n, false) => format!("{} will be touched.", count_of(n, "dead job")),
        (n, true) => format!(
            "At least {} will be touched (the count stopped there).",
            count_of(n, "dead job")
        ),
    };
    let (describe, back) = (query.describe(), query.back());
    Ok(page(
        StatusCode::OK,
        "bulk.html",
        context! {
            verb => verb,
            action => query.action,
            f => query.search,
            describe => describe,
            count => count,
            matching => n > 0 || found.next_cursor.is_some(),
            back => back,
            ..base(&signed, "Bulk action", "jobs")
        },
    ))
}
