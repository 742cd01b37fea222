//! Checks of payload fields shared by kinds, each exactly what the field's schema states (its
//! pattern and bounds), so a client generated from the OpenAPI document and the server agree.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

fn refuse<'de, D: Deserializer<'de>, T>(message: &str) -> Result<T, D::Error> {
    Err(serde::de::Error::custom(message))
}

/// What a tenant slug looks like.
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";

/// Whether `s` matches [`SLUG_PATTERN`].
pub fn is_slug(s: &str) -> bool {
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= 63 && s.chars().next().is_some_and(lower) && s.chars().all(|c| lower(c) || c == '-')
}

/// A slug ([`is_slug`]).
pub fn slug<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let slug = String::deserialize(d)?;
    if is_slug(&slug) {
        Ok(slug)
    } else {
        refuse::<D, _>("slug must match ^[a-z0-9][a-z0-9-]{0,62}$")
    }
}

/// The longest email accepted: Authentik's username holds 150 characters.
pub const MAX_EMAIL: usize = 150;

/// An email as the schema states it: at most 150 characters, one `@` between two non-empty
/// parts, no space, tab or line break.
pub fn email<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let email = String::deserialize(d)?;
    let allowed = |part: &str| !part.is_empty() && !part.contains(['@', ' ', '\t', '\r', '\n']);
    let fits = email.chars().count() <= MAX_EMAIL
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| allowed(local) && allowed(domain));
    if fits {
        Ok(email)
    } else {
        refuse::<D, _>("email must be an address of at most 150 characters")
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

/// A redirect URI: `^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^ \t\r\n]*)?$` — a host name
/// (no IPv6 literal, no user info), an optional port and path — at most 2,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectUriArg(pub String);

impl utoipa::PartialSchema for RedirectUriArg {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .max_length(Some(2000))
            .pattern(Some(
                "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^ \\t\\r\\n]*)?$",
            ))
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
        let Some(rest) = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))
        else {
            return false;
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        u.chars().count() <= 2000
            && !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && port
                .is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            && !path.contains([' ', '\t', '\r', '\n'])
    };
    if !uris.iter().all(|u| fits(u)) {
        return refuse::<D, _>(
            "each redirect URI must be http(s)://host[:port][/path], without spaces",
        );
    }
    Ok(uris.into_iter().map(RedirectUriArg).collect())
}

/// An optional email, as `invite-operator` takes one.
pub fn optional_email<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Email(#[serde(deserialize_with = "email")] String);
    Ok(Option::<Email>::deserialize(d)?.map(|e| e.0))
}

/// An optional tenant slug ([`is_slug`]), as `invite-operator` takes one.
pub fn optional_slug<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Slug(#[serde(deserialize_with = "slug")] String);
    Ok(Option::<Slug>::deserialize(d)?.map(|s| s.0))
}

/// The most groups an invite names.
pub const MAX_GROUPS: usize = 20;

/// Groups an invite may not name: Authentik's superusers, and tenants' groups (a person joins
/// a tenant's group through the invite's `tenant`, which waits for that tenant), so a portal
/// caller cannot make someone a superuser or put them in another tenant.
pub const RESERVED_GROUP: &str = "authentik Admins";
/// The prefix of every tenant's group (see `tenant_group`).
pub const TENANT_GROUP_PREFIX: &str = "dezky-tenant-";

/// An Authentik group name as an invite names it: 1 to 150 characters, no control character,
/// neither [`RESERVED_GROUP`] nor a tenant's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupName(pub String);

impl utoipa::PartialSchema for GroupName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .min_length(Some(1))
            .max_length(Some(150))
            .pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]+$"))
            .description(Some(
                "Not `authentik Admins`, and not a tenant's group (`dezky-tenant-…`): join a tenant through `tenant`.",
            ))
            .into()
    }
}

impl ToSchema for GroupName {}

/// At most [`MAX_GROUPS`] group names, each a [`GroupName`].
pub fn group_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let fits = |n: &str| (1..=150).contains(&n.chars().count()) && !n.chars().any(char::is_control);
    if names.len() > MAX_GROUPS || !names.iter().all(|n| fits(n)) {
        return refuse::<D, _>(
            "groups must be at most 20 names of 1 to 150 characters, without control characters",
        );
    }
    if names
        .iter()
        .any(|n| n == RESERVED_GROUP || n.starts_with(TENANT_GROUP_PREFIX))
    {
        return refuse::<D, _>(
            "groups may not name `authentik Admins` or a tenant's group: join a tenant through `tenant`",
        );
    }
    Ok(names)
}
