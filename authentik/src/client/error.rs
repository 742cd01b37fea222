//! How an Authentik call can fail, classified: connect errors, timeouts, 5xx and 429 are
//! transient (retry, or snooze the job during an outage); 400 with field errors, 403 and 404 are
//! permanent. A 400's field errors stay structured, `non_field_errors` as a string or a list.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// A 400's field errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    /// Per field, its messages.
    pub fields: BTreeMap<String, Vec<String>>,
    /// `non_field_errors`, whether Authentik sent a string or a list.
    pub non_field: Vec<String>,
}

impl FieldErrors {
    /// Parses a 400 body (an empty or non-object body gives no errors: the model rejected it).
    pub fn from_body(body: &Value) -> Self {
        let mut errors = Self::default();
        let Some(map) = body.as_object() else {
            return errors;
        };
        for (key, value) in map {
            let messages = match value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                    .collect(),
                other => vec![other.to_string()],
            };
            if key == "non_field_errors" {
                errors.non_field = messages;
            } else {
                errors.fields.insert(key.clone(), messages);
            }
        }
        errors
    }

    /// Whether `field` has an error (match on the key, never on wording: API-NOTES §1).
    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// Whether the non-field errors mention `text` (for errors that have no field).
    pub fn non_field_mentions(&self, text: &str) -> bool {
        self.non_field.iter().any(|m| m.contains(text))
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join(" ")))
            .collect();
        if !self.non_field.is_empty() {
            parts.push(self.non_field.join(" "));
        }
        if parts.is_empty() {
            f.write_str("rejected without details")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// A failed Authentik call. Messages never contain the token or a recovery link.
#[derive(Debug, thiserror::Error)]
pub enum AuthentikError {
    /// No connection (refused, reset, DNS).
    #[error("cannot reach Authentik: {0}")]
    Connect(String),
    /// No answer in time.
    #[error("Authentik did not answer in time")]
    Timeout,
    /// Authentik (or its proxy) failed: 5xx.
    #[error("Authentik answered {status}")]
    Server {
        /// The status.
        status: u16,
    },
    /// Too many requests: 429, with the wait Authentik asked for.
    #[error("Authentik is rate limiting (retry after {retry_after:?})")]
    RateLimited {
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// 400: the request was refused, with field errors.
    #[error("Authentik refused the request: {0}")]
    Invalid(FieldErrors),
    /// 403: the token is missing, bad, or lacks a permission.
    #[error("Authentik forbids it: {0}")]
    Forbidden(String),
    /// 404.
    #[error("not found in Authentik: {0}")]
    NotFound(String),
    /// Another status, or a body that does not parse.
    #[error("unexpected answer from Authentik: {0}")]
    Unexpected(String),
    /// Not sent: the dependency gate is closed (Authentik was found unreachable and its prober
    /// has not seen it back yet).
    #[error("not sent: Authentik is unreachable and the gate is closed")]
    GateClosed,
    /// Not sent: a write for a job run that no longer holds its lease.
    #[error("not sent: this run no longer holds its job ({0})")]
    Fenced(String),
}

impl AuthentikError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.is_unreachable() || matches!(self, Self::RateLimited { .. } | Self::GateClosed)
    }

    /// Whether Authentik looks down (no connection, no answer in time, 5xx): what closes the
    /// dependency gate. A rate limit is not: Authentik answered.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Timeout | Self::Server { .. })
    }

    /// The wait Authentik asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a transport error.
    pub fn from_transport(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() || e.is_request() || e.is_body() {
            // Refused, reset, or cut off mid-answer: the request may or may not have been applied.
            Self::Connect(without_url(e))
        } else if e.is_decode() {
            Self::Unexpected(format!("cannot read the answer: {}", without_url(e)))
        } else {
            Self::Connect(without_url(e))
        }
    }

    /// Classifies a non-success answer.
    pub fn from_status(status: u16, retry_after: Option<Duration>, body: &Value) -> Self {
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match status {
            400 => Self::Invalid(FieldErrors::from_body(body)),
            403 => Self::Forbidden(detail),
            404 => Self::NotFound(detail),
            429 => Self::RateLimited { retry_after },
            500..=599 => Self::Server { status },
            _ => Self::Unexpected(format!("status {status}")),
        }
    }
}

/// reqwest's message without the URL (which may carry query values).
fn without_url(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
