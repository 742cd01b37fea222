//! Checks of payload fields shared by kinds, each exactly what the field's schema states (its
//! pattern and bounds), so a client generated from the OpenAPI document and the server agree.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

fn refuse<'de, D: Deserializer<'de>, T>(message: &str) -> Result<T, D::Error> {
    Err(serde::de::Error::custom(message))
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn slug<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let slug = String::deserialize(d)?;
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let fits = slug.len() <= 63
        && slug.chars().next().is_some_and(lower)
        && slug.chars().all(|c| lower(c) || c == '-');
    if fits {
        Ok(slug)
    } else {
        refuse::<D, _>("slug must match ^[a-z0-9][a-z0-9-]{0,62}$")
    }
}

/// At most 200 characters.
pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    if name.chars().count() <= 200 {
        Ok(name)
    } else {
        refuse::<D, _>("name must be at most 200 characters")
    }
}

/// Dot-separated labels of `[a-z0-9-]`, none empty or starting or ending with `-`; at most 253
/// characters.
pub fn domain<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let domain = String::deserialize(d)?;
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if domain.len() <= 253 && domain.split('.').all(label) {
        Ok(domain)
    } else {
        refuse::<D, _>("domain must be a lowercase host name")
    }
}

/// A redirect URI: `^https?://[^ \t\r\n]+$`, at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectUriArg(pub String);

impl utoipa::PartialSchema for RedirectUriArg {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .max_length(Some(2000))
            .pattern(Some("^https?://[^ \\t\\r\\n]+$"))
            .into()
    }
}

impl ToSchema for RedirectUriArg {}

/// 1 to 20 redirect URIs, each a [`RedirectUriArg`].
pub fn redirect_uris<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RedirectUriArg>, D::Error> {
    let uris = Vec::<String>::deserialize(d)?;
    if uris.is_empty() || uris.len() > 20 {
        return refuse::<D, _>("redirect_uris must hold 1 to 20 URIs");
    }
    let fits = |u: &str| {
        let rest = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"));
        u.chars().count() <= 2000
            && rest.is_some_and(|r| !r.is_empty() && !r.contains([' ', '\t', '\r', '\n']))
    };
    if !uris.iter().all(|u| fits(u)) {
        return refuse::<D, _>("each redirect URI must be an http(s) URI without spaces");
    }
    Ok(uris.into_iter().map(RedirectUriArg).collect())
}

/// An optional email, as `invite-operator` takes one.
pub fn optional_email<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Email(#[serde(deserialize_with = "crate::kinds::invite::email")] String);
    Ok(Option::<Email>::deserialize(d)?.map(|e| e.0))
}
