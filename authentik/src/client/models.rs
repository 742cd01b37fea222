//! The parts of Authentik's objects the jobs read, and the bodies they send. Unknown fields are
//! ignored on the way in; bodies send only what they set.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A paginated list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// Where this page is.
    pub pagination: Pagination,
    /// The objects.
    pub results: Vec<T>,
}

/// `pagination`: page numbers, 0 for none.
#[derive(Debug, Deserialize)]
pub struct Pagination {
    /// The next page, 0 when this is the last.
    pub next: f64,
    /// How many objects in all.
    pub count: f64,
}

/// `GET /admin/version/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    /// The running release.
    pub version_current: String,
}

/// A flow.
#[derive(Debug, Clone, Deserialize)]
pub struct Flow {
    /// Its uuid.
    pub pk: String,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub designation: String,
    /// Who may run it.
    #[serde(default)]
    pub authentication: Option<String>,
}

/// `POST /flows/instances/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewFlow {
    /// Name.
    pub name: String,
    /// Slug (`^[-a-zA-Z0-9_]+$`).
    pub slug: String,
    /// Title.
    pub title: String,
    /// Designation.
    pub designation: String,
    /// Authentication requirement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
}

/// A stage (the generic fields `/stages/all/` gives).
#[derive(Debug, Clone, Deserialize)]
pub struct Stage {
    /// Its uuid.
    pub pk: String,
    /// Its name (unique across stage types).
    pub name: String,
}

/// A flow–stage binding.
#[derive(Debug, Clone, Deserialize)]
pub struct FlowStageBinding {
    /// Its uuid.
    pub pk: String,
    /// The flow's uuid.
    pub target: String,
    /// The stage's uuid.
    pub stage: String,
    /// Order in the flow.
    pub order: i64,
    /// Whether its policies are evaluated when the flow is planned.
    #[serde(default)]
    pub evaluate_on_plan: bool,
    /// Whether its policies are evaluated again when the stage runs.
    #[serde(default)]
    pub re_evaluate_policies: bool,
}

/// `POST /flows/bindings/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewFlowStageBinding {
    /// The flow's uuid.
    pub target: String,
    /// The stage's uuid.
    pub stage: String,
    /// Order in the flow.
    pub order: i64,
    /// Evaluate policies when the flow is planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluate_on_plan: Option<bool>,
    /// Evaluate policies again when the stage runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub re_evaluate_policies: Option<bool>,
}

/// A brand.
#[derive(Debug, Clone, Deserialize)]
pub struct Brand {
    /// Its uuid.
    pub brand_uuid: String,
    /// The host it applies to.
    pub domain: String,
    /// Whether it is the default brand.
    #[serde(default)]
    pub default: bool,
    /// Its recovery flow.
    #[serde(default)]
    pub flow_recovery: Option<String>,
    /// Its authentication flow.
    #[serde(default)]
    pub flow_authentication: Option<String>,
    /// Its logout flow.
    #[serde(default)]
    pub flow_invalidation: Option<String>,
    /// Its user-settings flow.
    #[serde(default)]
    pub flow_user_settings: Option<String>,
}

/// A user.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Its integer pk.
    pub pk: i64,
    /// Its uuid.
    pub uuid: String,
    /// Username.
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Group uuids.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Attributes (replaced whole by PATCH).
    #[serde(default)]
    pub attributes: Value,
}

/// `POST /core/users/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewUser {
    /// Username (1–150 characters).
    pub username: String,
    /// Display name (may be empty).
    pub name: String,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups to join at creation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
}

/// A group.
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    /// Its uuid.
    pub pk: String,
    /// Its integer pk.
    pub num_pk: i64,
    /// Its name.
    pub name: String,
    /// Its members' integer pks.
    #[serde(default)]
    pub users: Vec<i64>,
}

/// `POST /core/groups/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewGroup {
    /// Name.
    pub name: String,
}

/// A recovery link: a secret (it resets a password), never logged.
#[derive(Debug, Clone, Deserialize)]
pub struct RecoveryLink {
    /// The link.
    pub link: SecretString,
}

/// An expression policy.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpressionPolicy {
    /// Its uuid.
    pub pk: String,
    /// Its name.
    pub name: String,
    /// Its Python expression.
    pub expression: String,
}

/// `POST /policies/expression/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewExpressionPolicy {
    /// Name (unique).
    pub name: String,
    /// Python expression.
    pub expression: String,
}

/// A policy binding.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyBinding {
    /// Its uuid.
    pub pk: String,
    /// What it guards (a flow, a flow–stage binding, an application).
    pub target: String,
    /// The policy, when it binds one.
    #[serde(default)]
    pub policy: Option<String>,
    /// The group, when it binds one.
    #[serde(default)]
    pub group: Option<String>,
    /// Order.
    pub order: i64,
}

/// `POST /policies/bindings/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewPolicyBinding {
    /// What it guards.
    pub target: String,
    /// The policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Order.
    pub order: i64,
}

/// An OAuth2 scope mapping.
#[derive(Debug, Clone, Deserialize)]
pub struct ScopeMapping {
    /// Its uuid.
    pub pk: String,
    /// Its managed identifier.
    #[serde(default)]
    pub managed: Option<String>,
}

/// A certificate–key pair.
#[derive(Debug, Clone, Deserialize)]
pub struct CertificateKeyPair {
    /// Its uuid.
    pub pk: String,
    /// Its name.
    pub name: String,
}

/// A blueprint instance.
#[derive(Debug, Clone, Deserialize)]
pub struct BlueprintInstance {
    /// Its uuid.
    pub pk: String,
    /// Its name.
    pub name: String,
    /// `successful`, `warning`, `error`, `orphaned` or `unknown`.
    pub status: String,
}

/// `POST /core/brands/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewBrand {
    /// The host it applies to (and its subdomains).
    pub domain: String,
    /// Flows, by uuid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_authentication: Option<String>,
    /// Logout flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_invalidation: Option<String>,
    /// Recovery flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_recovery: Option<String>,
    /// User settings flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_user_settings: Option<String>,
}

/// A redirect URI of an OAuth2 provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedirectUri {
    /// `strict` or `regex`.
    pub matching_mode: String,
    /// The URI.
    pub url: String,
}

/// An OAuth2 provider. Its client secret is a secret.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuth2Provider {
    /// Its integer pk.
    pub pk: i64,
    /// Its name.
    pub name: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// The application it serves, if any.
    #[serde(default)]
    pub assigned_application_slug: Option<String>,
    /// Where clients may be sent back to.
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
}

/// `POST /providers/oauth2/` (2024.10+ shape).
#[derive(Debug, Clone, Serialize)]
pub struct NewOAuth2Provider {
    /// Name (unique).
    pub name: String,
    /// Authorization flow uuid.
    pub authorization_flow: String,
    /// Invalidation flow uuid.
    pub invalidation_flow: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Scope mappings to include (the API adds none by itself).
    pub property_mappings: Vec<String>,
    /// Signing key (RS256 with a JWKS when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

/// An application.
#[derive(Debug, Clone, Deserialize)]
pub struct Application {
    /// Its uuid.
    pub pk: String,
    /// Its slug (OIDC endpoints are keyed by it).
    pub slug: String,
    /// Its name.
    pub name: String,
    /// Its provider's pk.
    #[serde(default)]
    pub provider: Option<i64>,
}

/// `POST /core/applications/`.
#[derive(Debug, Clone, Serialize)]
pub struct NewApplication {
    /// Name.
    pub name: String,
    /// Slug (`^[-a-zA-Z0-9_]+$`).
    pub slug: String,
    /// The provider's integer pk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<i64>,
    /// Launch URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_launch_url: Option<String>,
}
