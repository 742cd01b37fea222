//! The simulator's objects, kept as the JSON Authentik answers with, one list per kind, and saved
//! to a state file after every write (write to a temporary file, then rename), so a SIGKILLed
//! simulator restarted on the same file serves what it had — as Authentik keeps its database.

use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every object the simulator holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Objects {
    /// `Flow`s.
    pub flows: Vec<Value>,
    /// `Stage`s.
    pub stages: Vec<Value>,
    /// `FlowStageBinding`s.
    pub flow_bindings: Vec<Value>,
    /// `Brand`s.
    pub brands: Vec<Value>,
    /// `User`s.
    pub users: Vec<Value>,
    /// `Group`s.
    pub groups: Vec<Value>,
    /// `ExpressionPolicy`s.
    pub policies: Vec<Value>,
    /// `PolicyBinding`s.
    pub policy_bindings: Vec<Value>,
    /// `ScopeMapping`s.
    pub scope_mappings: Vec<Value>,
    /// `CertificateKeyPair`s.
    pub certificates: Vec<Value>,
    /// `BlueprintInstance`s.
    pub blueprints: Vec<Value>,
    /// `OAuth2Provider`s.
    pub providers: Vec<Value>,
    /// `Application`s.
    pub applications: Vec<Value>,
    /// User pk → the current recovery token key (a new link replaces the old one).
    pub recovery_tokens: Vec<(i64, String)>,
    /// User pk → password (set_password), kept only to observe that it changed.
    pub passwords: Vec<(i64, String)>,
    /// The mails email stages sent (`recovery_email`): `{to, stage, link}` each.
    pub outbox: Vec<Value>,
    /// The next integer pk for users and groups.
    pub next_int_pk: i64,
}

/// Objects plus the file they persist to.
#[derive(Debug)]
pub struct Store {
    /// The objects.
    pub objects: Objects,
    file: Option<PathBuf>,
}

impl Store {
    /// Loads `file` when it exists, else starts empty.
    pub fn open(file: Option<&Path>) -> std::io::Result<Self> {
        let objects = match file {
            Some(f) if f.exists() => serde_json::from_slice(&std::fs::read(f)?)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            _ => Objects {
                next_int_pk: 1,
                ..Objects::default()
            },
        };
        Ok(Self {
            objects,
            file: file.map(Path::to_path_buf),
        })
    }

    /// Saves the objects (after every write).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let tmp = file.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&self.objects).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, file)
    }

    /// The next integer pk.
    pub fn next_pk(&mut self) -> i64 {
        let pk = self.objects.next_int_pk.max(1);
        self.objects.next_int_pk = pk + 1;
        pk
    }

    /// Whether the default blueprints have been applied.
    pub fn has_defaults(&self) -> bool {
        !self.objects.blueprints.is_empty()
    }
}

/// A random v4 uuid.
pub fn uuid(rng: &mut impl Rng) -> String {
    let b: [u8; 16] = rng.random();
    let hex: String = b
        .iter()
        .enumerate()
        .map(|(i, x)| match i {
            6 => format!("{:02x}", (x & 0x0f) | 0x40),
            8 => format!("{:02x}", (x & 0x3f) | 0x80),
            _ => format!("{x:02x}"),
        })
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An RFC 3339 time for `*_date` fields (fixed: the simulator's clock is no part of the contract).
pub const EPOCH: &str = "2026-01-01T00:00:00Z";

/// A `Flow` as Authentik answers it.
pub fn flow(
    pk: &str,
    slug: &str,
    name: &str,
    title: &str,
    designation: &str,
    authentication: &str,
) -> Value {
    json!({
        "pk": pk, "policybindingmodel_ptr_id": pk, "name": name, "slug": slug, "title": title,
        "designation": designation, "background": "", "background_url": "/static/dist/assets/images/flow_background.jpg",
        "background_themed_urls": null, "stages": [], "policies": [], "cache_count": 0,
        "policy_engine_mode": "any", "compatibility_mode": false,
        "export_url": format!("/api/v3/flows/instances/{slug}/export/"), "layout": "stacked",
        "denied_action": "message_continue", "authentication": authentication,
    })
}

/// A `Stage` as Authentik answers it.
pub fn stage(pk: &str, name: &str, component: &str, model: &str) -> Value {
    json!({
        "pk": pk, "name": name, "component": component, "verbose_name": model, "verbose_name_plural": format!("{model}s"),
        "meta_model_name": format!("authentik_stages.{}", model.to_lowercase().replace(' ', "")), "flow_set": [],
    })
}
