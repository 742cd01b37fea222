//! The dashboard's templates (`api-shim/ui/templates/`, compiled into the binary), rendered with
//! minijinja: HTML auto-escaped, so nothing a job carries can inject markup.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: [(&str, &str); 10] = [
    ("base.html", include_str!("../../ui/templates/base.html")),
    ("login.html", include_str!("../../ui/templates/login.html")),
    (
        "overview.html",
        include_str!("../../ui/templates/overview.html"),
    ),
    ("jobs.html", include_str!("../../ui/templates/jobs.html")),
    ("job.html", include_str!("../../ui/templates/job.html")),
    (
        "schedules.html",
        include_str!("../../ui/templates/schedules.html"),
    ),
    (
        "schedule_table.html",
        include_str!("../../ui/templates/schedule_table.html"),
    ),
    ("audit.html", include_str!("../../ui/templates/audit.html")),
    ("bulk.html", include_str!("../../ui/templates/bulk.html")),
    (
        "message.html",
        include_str!("../../ui/templates/message.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "dashboard template does not parse");
            }
        }
        env
    })
}

/// Renders template `name` with `context` as a page with `status`.
pub fn page(status: StatusCode, name: &str, context: impl Serialize) -> Response {
    let rendered = environment()
        .get_template(name)
        .and_then(|t| t.render(context));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "dashboard page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>This page failed to render.</p>"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn what_a_job_carries_is_escaped() {
        let html = environment()
            .get_template("message.html")
            .and_then(|t| {
                t.render(minijinja::context! { title => "t", message => "<script>x</script>" })
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(html.contains("&lt;script&gt;x"), "{html}");
        assert!(!html.contains("<script>x"));
    }
}
