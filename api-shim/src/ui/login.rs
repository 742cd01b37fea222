//! Logging in and out. The login form takes an ops token — a portal token, or anything else,
//! does not open the dashboard — and answers with a signed session cookie; failures are
//! throttled per client address. Logging out (a form, with the CSRF token) clears the cookie.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::session::{SESSION_TTL, Signed, set_cookie};
use super::templates::page;
use super::{Ui, now_ms};
use crate::AppState;

/// The client's address, as the connection shows it (a proxy's, behind one).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()),
        ))
    }
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    page(
        status,
        "login.html",
        context! { title => "Log in", error => error },
    )
}

/// `GET /ui/login`.
pub async fn form() -> Response {
    login_page(StatusCode::OK, None)
}

/// `POST /ui/login`: an ops token opens a session.
pub async fn login(
    State(state): State<AppState>,
    Extension(ui): Extension<Arc<Ui>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = Instant::now();
    if let Err(wait) = ui.throttle.check(addr, now) {
        let wait = wait.max(Duration::from_secs(1)).as_secs().to_string();
        let mut response = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from here: wait a minute, then try again."),
        );
        if let Ok(value) = wait.parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let Some(name) = state
        .tokens
        .ops
        .caller(form.token.trim())
        .map(str::to_owned)
    else {
        ui.throttle.failed(addr, now);
        tracing::warn!(client = %addr, "dashboard login refused");
        return login_page(StatusCode::UNAUTHORIZED, Some("That is not an ops token."));
    };
    ui.throttle.succeeded(addr);
    let Some((cookie, _)) = ui.key.issue(&name, now_ms()) else {
        return login_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Cannot sign a session."),
        );
    };
    tracing::info!(operator = %name, "dashboard login");
    (
        [(
            header::SET_COOKIE,
            set_cookie(&cookie, SESSION_TTL, &headers),
        )],
        Redirect::to("/ui/"),
    )
        .into_response()
}

/// `GET /ui/logout`: a page with the logout button (logging out is a form, like every action).
pub async fn logout_form(signed: Signed) -> Response {
    page(
        StatusCode::OK,
        "message.html",
        context! {
            message => "Use the Log out button above to end this session.",
            ..super::views::base(&signed, "Log out", "logout")
        },
    )
}

/// `POST /ui/logout`: clears the session cookie.
pub async fn logout(
    Extension(ui): Extension<Arc<Ui>>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<super::actions::ActionForm>,
) -> Response {
    if !ui.key.csrf_ok(&signed.session, &form.csrf) {
        return super::actions::csrf_refused();
    }
    (
        [(header::SET_COOKIE, set_cookie("", Duration::ZERO, &headers))],
        Redirect::to("/ui/login"),
    )
        .into_response()
}
