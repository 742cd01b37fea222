//! What a handler answers when it succeeds: its result, and the part of it that is secret (a
//! recovery link, a temporary password, a client secret). The worker stores the secret part
//! encrypted and apart from the job; only the caller that enqueued the job reads it back, for a
//! limited time, and it never reaches lists, logs or errors.

/// A successful attempt's answer.
#[derive(Default)]
pub struct Output {
    /// The result everyone allowed to see the job sees.
    pub result: serde_json::Value,
    /// The secret part, if any.
    pub secret: Option<serde_json::Value>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("result", &self.result)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Output {
    /// A result with a secret part.
    pub fn with_secret(result: serde_json::Value, secret: serde_json::Value) -> Self {
        Self {
            result,
            secret: Some(secret),
        }
    }
}

impl From<serde_json::Value> for Output {
    fn from(result: serde_json::Value) -> Self {
        Self {
            result,
            secret: None,
        }
    }
}
