//! Extractors that answer bad input with problem details instead of axum's plain-text
//! rejections: JSON bodies (415 wrong media type, 413 too large, 400 malformed, 422 wrong shape)
//! and query strings (400).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON body of `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// An optional JSON body: an empty body is `None`.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_none_or(|v| v != "0");
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                status,
                "Payload too large",
                Some(format!("the body exceeds {} bytes", crate::MAX_BODY_BYTES)),
            )
        } else {
            Problem::bad_request(rejection.body_text())
        }
    })?;
    if has_body && !bytes.is_empty() {
        let json = content_type.as_deref().is_some_and(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        });
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                Some("send the body as `Content-Type: application/json`".into()),
            ));
        }
    }
    Ok(bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Problem::unprocessable(format!("the body does not fit: {e}"))
        }
        _ => Problem::bad_request(format!("the body is not valid JSON: {e}")),
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Err(Problem::bad_request("a JSON body is required"));
        }
        parse(&bytes).map(JsonBody)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        // A JSON `null` is no body too (the document allows it).
        parse::<Option<T>>(&bytes).map(OptionalJsonBody)
    }
}

/// A query string of `T`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|rejection| Problem::bad_request(rejection.body_text()))
    }
}
