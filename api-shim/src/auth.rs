//! Bearer-token authentication. Tokens come from configuration as `name=token` pairs; a request
//! is tagged with the caller's name (recorded on the jobs it enqueues). Tokens are secrets: held in
//! `SecretString`, compared in constant time, never logged.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::AppState;
use crate::problem::Problem;

/// Named tokens of one role.
#[derive(Default, Clone)]
pub struct TokenSet {
    entries: Vec<(String, SecretString)>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(n, _)| format!("{n}=[redacted]")))
            .finish()
    }
}

impl TokenSet {
    /// Parses `name=token,name=token`. Names are `[A-Za-z0-9_.-]+`; tokens at least 8 characters.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut entries: Vec<(String, SecretString)> = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, token) = pair
                .split_once('=')
                .ok_or_else(|| "each entry must be name=token (an entry has no `=`)".to_owned())?;
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(format!(
                    "token name `{name}` must be letters, digits, `_`, `.` or `-`"
                ));
            }
            if token.trim().len() < 8 {
                return Err(format!(
                    "the token of `{name}` must be at least 8 characters"
                ));
            }
            if entries.iter().any(|(n, _)| n == name) {
                return Err(format!("token name `{name}` appears twice"));
            }
            entries.push((name.to_owned(), SecretString::from(token.trim().to_owned())));
        }
        Ok(Self { entries })
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a token named `name` is configured (a dashboard session lasts only while its
    /// token does).
    pub fn has_name(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// The name of the caller presenting `token`.
    pub(crate) fn caller(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (name, secret) in &self.entries {
            // Check every entry, so timing does not reveal which one matched.
            if constant_time_eq(secret.expose_secret().as_bytes(), token.as_bytes()) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The tokens of every role.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    /// Callers such as the portal: enqueue, status, search.
    pub api: TokenSet,
    /// Operators: everything, admin routes included.
    pub ops: TokenSet,
    /// Readers of `/metrics` only (`DEZKY_METRICS_TOKEN`, e.g. Prometheus); ops tokens read it
    /// too.
    pub metrics: TokenSet,
}

/// The authenticated caller, put in request extensions by the auth middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Whether it is an ops token.
    pub ops: bool,
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn identify(tokens: &Tokens, request: &Request) -> Result<Caller, Problem> {
    let unauthorized = |detail: &str| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            Some(detail.to_owned()),
        )
    };
    let token =
        bearer(request).ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
    if let Some(name) = tokens.ops.caller(token) {
        return Ok(Caller {
            name: name.to_owned(),
            ops: true,
        });
    }
    if let Some(name) = tokens.api.caller(token) {
        return Ok(Caller {
            name: name.to_owned(),
            ops: false,
        });
    }
    Err(unauthorized("the bearer token is not valid"))
}

/// Admits portal and ops tokens.
pub async fn require_caller(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match identify(&state.tokens, &request) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(problem) => problem.into_response(),
    }
}

/// Admits the readers of `/metrics`: an ops token or the metrics token; anything else is 401.
pub async fn require_metrics_reader(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let token = bearer(&request);
    let reader = token.is_some_and(|t| {
        state.tokens.ops.caller(t).is_some() || state.tokens.metrics.caller(t).is_some()
    });
    if reader {
        next.run(request).await
    } else {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            Some("/metrics needs an ops token or the metrics token".into()),
        )
        .into_response()
    }
}

/// Admits ops tokens only; a valid portal token gets 403.
pub async fn require_ops(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match identify(&state.tokens, &request) {
        Ok(caller) if caller.ops => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(_) => Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            Some("this route needs an ops token".into()),
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_token_specs() {
        let set = TokenSet::parse("portal=abcdefgh, other=12345678").unwrap();
        assert_eq!(set.caller("abcdefgh"), Some("portal"));
        assert_eq!(set.caller("abcdefgX"), None);
        assert!(
            !format!("{set:?}").contains("abcdefgh"),
            "Debug redacts tokens"
        );
        assert!(TokenSet::parse("nopair").is_err());
        assert!(TokenSet::parse("p=short").is_err());
        assert!(TokenSet::parse("a b=12345678").is_err());
        assert!(TokenSet::parse("p=12345678,p=87654321").is_err());
        assert!(TokenSet::parse("").unwrap().is_empty());
    }
}
