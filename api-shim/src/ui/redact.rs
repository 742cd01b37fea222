//! What pages show of a job's args and result: secrets replaced by `[redacted]`. Secret results
//! are sealed in the store and never shown here; this is the second line, for a secret that
//! reached args or a result anyway — any field whose name speaks of a secret, and any text
//! carrying a token in a URL.

use serde_json::Value;

/// Field names (lower case) whose values are hidden when they contain one of these.
const SECRET_FIELDS: [&str; 7] = [
    "secret",
    "password",
    "token",
    "link",
    "credential",
    "private",
    "api_key",
];

/// What pages print instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// `value` with every secret replaced.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let k_lower = k.to_ascii_lowercase();
                    let hidden = SECRET_FIELDS.iter().any(|s| k_lower.contains(s));
                    let v = if hidden && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) if s.to_ascii_lowercase().contains("token=") => {
            Value::String(REDACTED.into())
        }
        other => other.clone(),
    }
}

/// `value` redacted and pretty-printed, for a `<pre>`.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&redact(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_wherever_they_are() {
        let job = json!({
            "tenant": "acme",
            "recovery_link": "https://auth.example/if/flow/recovery/?flow_token=abc",
            "nested": [{"client_secret": "s3cret", "temporary_password": "pw"}],
            "note": "see https://x.example/?token=zzz",
            "redirect_uris": ["https://app.example/cb"],
            "api_token": null,
        });
        let shown = redact(&job);
        assert_eq!(
            shown,
            json!({
                "tenant": "acme",
                "recovery_link": REDACTED,
                "nested": [{"client_secret": REDACTED, "temporary_password": REDACTED}],
                "note": REDACTED,
                "redirect_uris": ["https://app.example/cb"],
                "api_token": null,
            })
        );
        for secret in ["abc", "s3cret", "\"pw\"", "zzz"] {
            assert!(!pretty(&job).contains(secret), "{secret}");
        }
    }
}
