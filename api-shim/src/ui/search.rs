//! `/ui/jobs`: search every queue by job id, by text in args (a tenant slug, an email), by
//! tenant, narrowed by queue, state and kind; a bookmarkable URL. Backends answer a bounded scan
//! with a cursor, so the page follows cursors by itself until it has a page of results or its
//! time budget is spent, and says how far it looked.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use dezky_queue::{JobFilter, JobId, JobState};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::problem_page;
use super::session::Signed;
use super::templates::page;
use super::views::{JobRow, base, when};
use crate::AppState;
use crate::problem::Problem;

/// Results a page shows.
pub const PAGE: usize = 50;
/// How long one page keeps following cursors.
pub const BUDGET: Duration = Duration::from_millis(1500);

/// The search's fields, as the URL carries them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SearchQuery {
    /// Free text: a job id, or text in args.
    #[serde(default)]
    pub q: String,
    /// Only this queue.
    #[serde(default)]
    pub queue: String,
    /// Only this state.
    #[serde(default)]
    pub state: String,
    /// Only this kind.
    #[serde(default)]
    pub kind: String,
    /// Only this tenant.
    #[serde(default)]
    pub tenant: String,
    /// Where the previous page stopped.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cursor: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl SearchQuery {
    /// The queue's filter for this search (`state` checked), less paging.
    pub fn filter(&self) -> Result<JobFilter, Problem> {
        let state = match some(&self.state) {
            None => None,
            Some(s) => Some(s.parse::<JobState>().map_err(Problem::unprocessable)?),
        };
        Ok(JobFilter {
            queue: some(&self.queue),
            state,
            kind: some(&self.kind),
            tenant: some(&self.tenant),
            text: some(&self.q),
            limit: PAGE,
            cursor: some(&self.cursor),
            ..JobFilter::default()
        })
    }

    /// The URL parameters of this search without its cursor, for links.
    pub fn params(&self) -> BTreeMap<&'static str, String> {
        [
            ("q", &self.q),
            ("queue", &self.queue),
            ("state", &self.state),
            ("kind", &self.kind),
            ("tenant", &self.tenant),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_owned()))
        .collect()
    }
}

/// What one search found.
#[derive(Debug, Default)]
pub struct Found {
    /// Matching jobs, newest first.
    pub jobs: Vec<dezky_queue::Job>,
    /// Where to go on, if the search stopped before the end.
    pub next_cursor: Option<String>,
    /// Backend requests made.
    pub batches: usize,
    /// Time spent.
    pub took: Duration,
}

/// Runs `filter`, following cursors until `want` jobs are found, the end is reached, or
/// `budget` is spent.
pub async fn follow(
    state: &AppState,
    mut filter: JobFilter,
    want: usize,
    budget: Duration,
) -> Result<Found, Problem> {
    let started = Instant::now();
    let mut found = Found::default();
    loop {
        // Never more than still wanted, so the cursor is exactly where this page ends.
        filter.limit = want - found.jobs.len();
        let page = state.queue.list(filter.clone()).await?;
        found.batches += 1;
        found.jobs.extend(page.jobs);
        found.next_cursor = page.next_cursor;
        if found.jobs.len() >= want || started.elapsed() >= budget {
            break;
        }
        match &found.next_cursor {
            Some(cursor) => filter.cursor = Some(cursor.clone()),
            None => break,
        }
    }
    found.took = started.elapsed();
    Ok(found)
}

/// `GET /ui/jobs`.
pub async fn jobs(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<SearchQuery>,
) -> Result<Response, Response> {
    let queues: Vec<String> = state
        .queue
        .counts()
        .await
        .map_err(|e| problem_page(e.into()))?
        .into_iter()
        .map(|c| c.queue)
        .collect();
    let mut error = None;
    let mut rows = Vec::new();
    let mut looked = String::new();
    let mut next = None;
    if let Some(id) = JobId::parse(query.q.trim()) {
        match state
            .queue
            .get(&id)
            .await
            .map_err(|e| problem_page(e.into()))?
        {
            Some(job) => {
                rows.push(JobRow::from(&job));
                looked = "Found by its id.".into();
            }
            None => looked = "No job has this id.".into(),
        }
    } else {
        match query.filter() {
            Err(p) => error = p.detail,
            Ok(filter) => {
                let found = follow(&state, filter, PAGE, BUDGET)
                    .await
                    .map_err(problem_page)?;
                rows = found.jobs.iter().map(JobRow::from).collect();
                looked = describe(&found);
                if let Some(cursor) = found.next_cursor {
                    let mut params = query.params();
                    params.insert("cursor", cursor);
                    next = Some(format!("/ui/jobs?{}", encode(&params)));
                }
            }
        }
    }
    let mut dead = query.params();
    dead.remove("state");
    let bulk = |action: &str| {
        let mut params = dead.clone();
        params.insert("action", action.to_owned());
        format!("/ui/bulk?{}", encode(&params))
    };
    Ok(page(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "jobs.html",
        context! {
            f => query,
            queues => queues,
            states => JobState::ALL.map(JobState::as_str),
            jobs => rows,
            looked => looked,
            next => next,
            error => error,
            bulk_retry => bulk("retry"),
            bulk_delete => bulk("delete"),
            ..base(&signed, "Jobs", "jobs")
        },
    ))
}

/// How far a search looked, for people.
fn describe(found: &Found) -> String {
    let n = found.jobs.len();
    let took = super::views::span(found.took);
    let requests = super::views::count(found.batches, "request");
    match (&found.next_cursor, found.jobs.last()) {
        (None, _) => format!("{n} found; searched to the end ({requests}, {took})."),
        (Some(_), Some(last)) => format!(
            "{n} shown; looked through jobs created down to {} ({requests}, {took}); older ones may match too.",
            when(Some(last.created_at)),
        ),
        (Some(_), None) => format!(
            "None found yet: looked for {took} ({requests}) without reaching the end; search on to look further."
        ),
    }
}

/// `key=value&…`, percent-encoded.
pub fn encode(params: &BTreeMap<&'static str, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_percent_encoded() {
        let params = BTreeMap::from([("q", "a b&c=d@é".to_owned()), ("state", "dead".into())]);
        assert_eq!(encode(&params), "q=a%20b%26c%3Dd%40%C3%A9&state=dead");
    }
}
