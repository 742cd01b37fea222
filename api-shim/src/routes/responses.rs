//! The problem responses routes share, declared once for the OpenAPI document. Each type is a
//! set of statuses a route can answer with `application/problem+json`.

use utoipa::IntoResponses;

use crate::problem::Problem;

/// Routes behind a portal or ops token.
#[derive(Debug, IntoResponses)]
pub enum NeedsToken {
    /// Missing or wrong token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
}

/// Routes behind an ops token.
#[derive(Debug, IntoResponses)]
pub enum NeedsOpsToken {
    /// Missing or wrong token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// A valid token that is not an ops token
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Routes that name a job.
#[derive(Debug, IntoResponses)]
pub enum JobLookup {
    /// No such job
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// Admin changes that depend on the job's state.
#[derive(Debug, IntoResponses)]
pub enum StateChange {
    /// No such job
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The change does not apply to the job's state
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
}

/// Routes that read a JSON body.
#[derive(Debug, IntoResponses)]
pub enum JsonBodyErrors {
    /// Malformed JSON, or a bad header
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// Body over the size limit
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// Body is not JSON
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Well-formed, but a field does not fit
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
}

/// Routes that need the queue.
#[derive(Debug, IntoResponses)]
pub enum NeedsQueue {
    /// The queue did not answer; try again
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}
