//! Dashboard sessions: after a login with an ops token, a cookie that names the token and when
//! the session ends, signed (HMAC-SHA256) with a key derived from `DEZKY_SECRET_KEY`, so every
//! api replica accepts it and nobody can forge or extend one. HttpOnly and SameSite=Strict; each
//! session also has a CSRF token (a MAC of its nonce) that every action form must send back.
//! Sessions are not stored: logging out clears the cookie, and a session ends early when its
//! token is taken out of `DEZKY_OPS_TOKENS`.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HeaderMap};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Ui;
use crate::AppState;
use crate::auth::constant_time_eq;

/// The cookie's name.
pub const COOKIE_NAME: &str = "dezky_session";

/// How long a session lasts after its login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// The key sessions and CSRF tokens are signed with.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The ops token's name: who acts.
    pub name: String,
    /// When it ends, ms since the epoch.
    pub expires_ms: i64,
    /// Random per login; the CSRF token is derived from it.
    nonce: String,
}

impl SessionKey {
    /// A key of these bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The MAC of `fields` for `purpose`, as hex; `None` only if HMAC refused the key (it takes
    /// any length), so a failure can never verify.
    fn mac(&self, purpose: &str, fields: &[&str]) -> Option<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(purpose.as_bytes());
        for field in fields {
            mac.update(&[0]);
            mac.update(field.as_bytes());
        }
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// A new session for the token named `name`: the cookie's value and the session.
    pub fn issue(&self, name: &str, now_ms: i64) -> Option<(String, Session)> {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let expires_ms = now_ms.saturating_add(SESSION_TTL.as_millis() as i64);
        let expires = expires_ms.to_string();
        let mac = self.mac("session", &[name, &expires, &nonce])?;
        let value = format!("{name}~{expires}~{nonce}~{mac}");
        Some((
            value,
            Session {
                name: name.to_owned(),
                expires_ms,
                nonce,
            },
        ))
    }

    /// The session a cookie value stands for, if it is genuine and has not expired.
    pub fn verify(&self, value: &str, now_ms: i64) -> Option<Session> {
        let mut parts = value.split('~');
        let (name, expires, nonce, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac("session", &[name, expires, nonce])?;
        let expires_ms: i64 = expires.parse().ok()?;
        (constant_time_eq(expected.as_bytes(), mac.as_bytes()) && expires_ms > now_ms).then(|| {
            Session {
                name: name.to_owned(),
                expires_ms,
                nonce: nonce.to_owned(),
            }
        })
    }

    /// The CSRF token of `session`, which its forms carry.
    pub fn csrf(&self, session: &Session) -> String {
        self.mac("csrf", &[&session.name, &session.nonce])
            .unwrap_or_default()
    }

    /// Whether `token` is `session`'s CSRF token.
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        self.mac("csrf", &[&session.name, &session.nonce])
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), token.as_bytes()))
    }
}

/// The `Set-Cookie` value of a session (an empty value and no age logs out). `Secure` when the
/// request came over HTTPS through a proxy that says so.
pub fn set_cookie(value: &str, max_age: Duration, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{COOKIE_NAME}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value in a request, if it has one.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
}

/// A request's verified session, with the CSRF token its page's forms carry. Without one, the
/// request is sent to the login page and nothing else happens.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session.
    pub session: Session,
    /// Its CSRF token.
    pub csrf: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/ui/login").into_response();
        let ui = parts
            .extensions
            .get::<std::sync::Arc<Ui>>()
            .ok_or_else(to_login)?;
        let session = cookie_value(&parts.headers)
            .and_then(|v| ui.key.verify(v, super::now_ms()))
            .filter(|s| state.tokens.ops.has_name(&s.name))
            .ok_or_else(to_login)?;
        let csrf = ui.key.csrf(&session);
        Ok(Self { session, csrf })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_session_verifies_until_it_expires_and_cannot_be_altered() {
        let key = SessionKey::new([7; 32]);
        let (value, session) = key.issue("alice", 1_000).unwrap();
        assert_eq!(key.verify(&value, 1_000), Some(session.clone()));
        let end = 1_000 + SESSION_TTL.as_millis() as i64;
        assert_eq!(key.verify(&value, end), None, "expired");
        let longer = value.replacen(&end.to_string(), &(end + 1).to_string(), 1);
        assert_eq!(key.verify(&longer, 1_000), None, "extended");
        let other = value.replacen("alice", "mallory", 1);
        assert_eq!(key.verify(&other, 1_000), None, "renamed");
        assert_eq!(
            SessionKey::new([8; 32]).verify(&value, 1_000),
            None,
            "another key"
        );
        assert_eq!(key.verify("alice~9999999999999~00~", 1_000), None, "no MAC");
    }

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let key = SessionKey::new([7; 32]);
        let (_, one) = key.issue("alice", 0).unwrap();
        let (_, two) = key.issue("alice", 0).unwrap();
        assert!(key.csrf_ok(&one, &key.csrf(&one)));
        assert!(!key.csrf_ok(&two, &key.csrf(&one)));
        assert!(!key.csrf_ok(&one, ""));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; dezky_session=x~y; b=2".parse().unwrap());
        assert_eq!(cookie_value(&headers), Some("x~y"));
        let cookie = set_cookie("v", SESSION_TTL, &headers);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(set_cookie("v", SESSION_TTL, &headers).ends_with("; Secure"));
    }
}
