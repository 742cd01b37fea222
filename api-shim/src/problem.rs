//! RFC 9457 problem details: the one shape every error response has. 5xx details go to the log,
//! never to the caller.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dezky_queue::QueueError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What exactly went wrong, for this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    /// A problem with `status`, a `title` and an optional `detail`.
    pub fn new(status: StatusCode, title: &str, detail: impl Into<Option<String>>) -> Self {
        Self {
            type_uri: format!("https://dezky.eu/problems/{}", slug(title)),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// 400: the body or query could not be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", Some(detail.into()))
    }

    /// 422: well-formed but not acceptable.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable request",
            Some(detail.into()),
        )
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", Some(detail.into()))
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn slug(title: &str) -> String {
    title.to_ascii_lowercase().replace(' ', "-")
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotFound(id) => Problem::not_found(format!("no job with id {id}")),
            QueueError::InvalidState { .. } => {
                Problem::new(StatusCode::CONFLICT, "Conflict", Some(e.to_string()))
            }
            QueueError::Invalid(detail) => Problem::unprocessable(detail),
            QueueError::LeaseLost(_) | QueueError::Storage(_) => {
                tracing::error!(error = %e, "queue unavailable while serving a request");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Queue unavailable",
                    Some("the job queue did not answer; try again".into()),
                )
            }
        }
    }
}
