//! The ops dashboard, served by the api role under `/ui/`: server-rendered HTML (templates in
//! `api-shim/ui/templates/`, no front-end build, no third-party JS or CSS), readable without
//! JavaScript — actions are forms — with one small script for live numbers, under a strict
//! Content-Security-Policy.
//!
//! Access: ops tokens only, through a login form that sets a signed session cookie
//! ([`session`]); failed logins are throttled ([`throttle`]); every action needs the session's
//! CSRF token and is recorded in the store's audit with the token's name ([`actions`]). Pages:
//! the overview, job search, a job, the schedules and the bulk actions on dead jobs
//! ([`pages`], [`search`]). Secrets never reach a page ([`redact`]).

mod actions;
mod login;
mod pages;
mod redact;
mod search;
mod session;
mod templates;
mod throttle;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dezky_queue::Clock;

pub use session::{COOKIE_NAME, SessionKey};

use crate::AppState;
use crate::problem::Problem;

/// What the dashboard keeps across requests: the session key and the login throttle.
#[derive(Debug)]
pub struct Ui {
    key: SessionKey,
    throttle: throttle::Throttle,
}

impl Ui {
    /// The dashboard of `state`: sessions signed with a key derived from the secret key (so
    /// every replica with it accepts them), or with a random one when this process has none.
    fn new(state: &AppState) -> Self {
        let key = state
            .secrets
            .as_ref()
            .map_or_else(rand::random, |v| v.derive_key("dashboard-session-v1"));
        Self {
            key: SessionKey::new(key),
            throttle: throttle::Throttle::default(),
        }
    }
}

/// The dashboard's routes (`/` redirects to `/ui/`).
pub fn router(state: &AppState) -> Router<AppState> {
    let ui = Arc::new(Ui::new(state));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/overview.json", get(pages::overview_json))
        .route("/ui/login", get(login::form).post(login::login))
        .route("/ui/logout", get(login::logout_form).post(login::logout))
        .route("/ui/jobs", get(search::jobs))
        .route("/ui/jobs/{id}", get(pages::job))
        .route("/ui/jobs/{id}/{action}", post(actions::job_action))
        .route("/ui/queues/{queue}/{action}", post(actions::queue_action))
        .route("/ui/bulk", get(pages::bulk_confirm).post(actions::bulk))
        .route("/ui/schedules", get(pages::schedules))
        .route("/ui/schedules/{name}/run", post(actions::run_schedule))
        .route("/ui/static/app.css", get(css))
        .route("/ui/static/live.js", get(script))
        .layer(axum::Extension(ui))
        .layer(from_fn(guard_headers))
}

/// Headers on every dashboard response: nothing but our own files may load, no framing, no
/// caching of pages that show jobs, no referrer leaving the site.
async fn guard_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../ui/static/app.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../ui/static/live.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Now, ms since the epoch (sessions and the overview's clock).
fn now_ms() -> i64 {
    dezky_queue::SystemClock.now_ms()
}

/// A failure as a page: the problem's status, title and detail.
fn problem_page(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
    templates::page(
        status,
        "message.html",
        minijinja::context! {
            title => problem.title,
            message => problem.detail.unwrap_or_default(),
            error => true,
            back => "/ui/",
        },
    )
}
