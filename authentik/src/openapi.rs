//! A validator of JSON against an OpenAPI 3.0 document — the subset of the schema language
//! Authentik's generated schema uses: `$ref`, `nullable`, `allOf`, `oneOf`/`anyOf`, `enum`,
//! `type`, `required`, `properties`, `additionalProperties`, `items`, `minLength`/`maxLength`,
//! `format: uuid` (not `pattern`, which would need a regex engine). Request schemas skip `readOnly` properties' requirements, response schemas
//! `writeOnly` ones. Two recorded deviations of Authentik from its own schema are accepted:
//! `non_field_errors` as a string, which views raising errors directly send though the schema says
//! array (API-NOTES §1); and `null` for a read-only nested `*_obj` whose relation is unset
//! (`PolicyBinding.group_obj` when the binding binds a policy): the serializer declares it
//! `GroupSerializer(required=False, read_only=True, source="group")`, which DRF renders as null,
//! while the generated schema marks it non-nullable.

use std::fmt;
use std::path::Path;

use serde_json::Value;

/// Whether a value travels to or from the server (decides readOnly / writeOnly handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request body.
    Request,
    /// A response body.
    Response,
}

/// Why a value does not fit, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// JSON pointer to the offending value.
    pub at: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            if self.at.is_empty() { "/" } else { &self.at },
            self.problem
        )
    }
}

/// Failures of loading or looking up the document.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read or parsed.
    #[error("cannot load the OpenAPI document: {0}")]
    Load(String),
    /// No operation matches.
    #[error("no {method} {path} in the OpenAPI document")]
    NoOperation {
        /// HTTP method.
        method: String,
        /// Concrete path.
        path: String,
    },
    /// The operation documents no such status (or no JSON body for it).
    #[error("{method} {path} documents no JSON body for status {status}")]
    NoResponse {
        /// HTTP method.
        method: String,
        /// Concrete path.
        path: String,
        /// Status.
        status: u16,
    },
}

/// A loaded OpenAPI document.
#[derive(Debug, Clone)]
pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    /// Loads a YAML (or JSON) document.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError::Load(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// Parses a YAML (or JSON) document.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let doc: Value =
            serde_yaml_ng::from_str(text).map_err(|e| SpecError::Load(e.to_string()))?;
        Ok(Self { doc })
    }

    /// The path template matching a concrete path (`/core/users/42/` → `/core/users/{id}/`),
    /// after stripping a `/api/v3` prefix and the query.
    pub fn template_for(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let path = path.strip_prefix("/api/v3").unwrap_or(path);
        let wanted: Vec<&str> = path.split('/').collect();
        let paths = self.doc.get("paths")?.as_object()?;
        let mut best: Option<(&String, usize)> = None;
        for template in paths.keys() {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != wanted.len() {
                continue;
            }
            let mut literal = 0;
            let fits = parts.iter().zip(&wanted).all(|(t, w)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !w.is_empty()
                } else {
                    literal += 1;
                    t == w
                }
            });
            // Prefer the most literal match (`/core/users/{id}/recovery/` over `{id}` catch-alls).
            if fits && best.is_none_or(|(_, n)| literal > n) {
                best = Some((template, literal));
            }
        }
        best.map(|(t, _)| t.clone())
    }

    fn operation(&self, method: &str, path: &str) -> Result<&Value, SpecError> {
        let no_op = || SpecError::NoOperation {
            method: method.to_uppercase(),
            path: path.to_owned(),
        };
        let template = self.template_for(path).ok_or_else(no_op)?;
        self.doc["paths"][&template]
            .get(method.to_lowercase())
            .ok_or_else(no_op)
    }

    /// Validates a request body of `method path`.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), Vec<Mismatch>> {
        let op = self
            .operation(method, path)
            .map_err(|e| vec![mismatch("", e.to_string())])?;
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            return Err(vec![mismatch(
                "",
                format!("{method} {path} takes no JSON body"),
            )]);
        };
        self.check(schema, body, Direction::Request)
    }

    /// Validates a response body of `method path` with `status`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<Mismatch>> {
        let op = self
            .operation(method, path)
            .map_err(|e| vec![mismatch("", e.to_string())])?;
        let Some(response) = op.get("responses").and_then(|r| r.get(status.to_string())) else {
            let e = SpecError::NoResponse {
                method: method.to_uppercase(),
                path: path.to_owned(),
                status,
            };
            return Err(vec![mismatch("", e.to_string())]);
        };
        let response = self.resolve(response);
        match response.pointer("/content/application~1json/schema") {
            Some(schema) => self.check(schema, body, Direction::Response),
            None if body.is_null() => Ok(()),
            None => Err(vec![mismatch(
                "",
                format!("status {status} documents no body, got one"),
            )]),
        }
    }

    /// Validates `value` against `schema`.
    pub fn check(
        &self,
        schema: &Value,
        value: &Value,
        direction: Direction,
    ) -> Result<(), Vec<Mismatch>> {
        let mut errors = Vec::new();
        self.walk(schema, value, direction, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The schema named `name` under `components/schemas`.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.doc.pointer(&format!("/components/schemas/{name}"))
    }

    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                    Some(target) => schema = target,
                    None => return schema,
                },
                None => return schema,
            }
        }
        schema
    }

    fn walk(
        &self,
        schema: &Value,
        value: &Value,
        dir: Direction,
        at: &str,
        errors: &mut Vec<Mismatch>,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                Some(target) => return self.walk(target, value, dir, at, errors),
                None => return errors.push(mismatch(at, format!("unresolvable $ref {r}"))),
            }
        }
        if value.is_null() {
            if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
                return;
            }
            // A nullable `allOf` wrapper is how the generator marks nullable refs.
            if schema.get("allOf").is_none() && schema.get("type").is_some() {
                return errors.push(mismatch(at, "null where a value is required".into()));
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
                return;
            }
            for part in all {
                self.walk(part, value, dir, at, errors);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let fits = options
                    .iter()
                    .any(|o| self.check_at(o, value, dir, at).is_ok());
                if !fits {
                    errors.push(mismatch(at, format!("fits none of the {key} alternatives")));
                }
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
            && !(value.is_null() && allowed.contains(&Value::Null))
        {
            errors.push(mismatch(
                at,
                format!("{value} is not one of {}", Value::Array(allowed.clone())),
            ));
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.walk_object(schema, value, dir, at, errors),
            Some("array") => match value.as_array() {
                Some(items) => {
                    if let Some(item_schema) = schema.get("items") {
                        for (i, item) in items.iter().enumerate() {
                            self.walk(item_schema, item, dir, &format!("{at}/{i}"), errors);
                        }
                    }
                }
                None => {
                    if !(at.ends_with("/non_field_errors") && value.is_string()) {
                        errors.push(mismatch(at, format!("expected an array, got {value}")));
                    }
                }
            },
            Some("string") => match value.as_str() {
                Some(s) => check_string(schema, s, at, errors),
                None => errors.push(mismatch(at, format!("expected a string, got {value}"))),
            },
            Some("integer") if !(value.is_i64() || value.is_u64()) => {
                errors.push(mismatch(at, format!("expected an integer, got {value}")));
            }
            Some("number") if !value.is_number() => {
                errors.push(mismatch(at, format!("expected a number, got {value}")));
            }
            Some("boolean") if !value.is_boolean() => {
                errors.push(mismatch(at, format!("expected a boolean, got {value}")));
            }
            _ => {}
        }
    }

    fn check_at(
        &self,
        schema: &Value,
        value: &Value,
        dir: Direction,
        at: &str,
    ) -> Result<(), Vec<Mismatch>> {
        let mut errors = Vec::new();
        self.walk(schema, value, dir, at, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn walk_object(
        &self,
        schema: &Value,
        value: &Value,
        dir: Direction,
        at: &str,
        errors: &mut Vec<Mismatch>,
    ) {
        let Some(object) = value.as_object() else {
            return errors.push(mismatch(at, format!("expected an object, got {value}")));
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let skipped = |name: &str| {
            let prop = properties
                .and_then(|p| p.get(name))
                .map(|p| self.resolve(p));
            let flag = |k: &str| prop.and_then(|p| p.get(k)).and_then(Value::as_bool) == Some(true);
            match dir {
                Direction::Request => flag("readOnly"),
                Direction::Response => flag("writeOnly"),
            }
        };
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) && !skipped(name) {
                errors.push(mismatch(
                    at,
                    format!("required property `{name}` is missing"),
                ));
            }
        }
        for (name, v) in object {
            let here = format!("{at}/{name}");
            if v.is_null()
                && dir == Direction::Response
                && name.ends_with("_obj")
                && skipped_read_only(properties, name, self)
            {
                continue; // the second recorded deviation (see the module documentation)
            }
            match properties.and_then(|p| p.get(name)) {
                Some(prop) => self.walk(prop, v, dir, &here, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(mismatch(&here, "property not allowed".into()))
                    }
                    Some(extra) if extra.is_object() => self.walk(extra, v, dir, &here, errors),
                    _ => {}
                },
            }
        }
    }
}

fn skipped_read_only(
    properties: Option<&serde_json::Map<String, Value>>,
    name: &str,
    spec: &OpenApi,
) -> bool {
    properties
        .and_then(|p| p.get(name))
        .map(|p| spec.resolve(p))
        .and_then(|p| p.get("readOnly"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn check_string(schema: &Value, s: &str, at: &str, errors: &mut Vec<Mismatch>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(mismatch(at, format!("shorter than {min}")));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(mismatch(at, format!("longer than {max}")));
    }
    if schema.get("format").and_then(Value::as_str) == Some("uuid") && !is_uuid(s) {
        errors.push(mismatch(at, format!("`{s}` is not a uuid")));
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn mismatch(at: &str, problem: String) -> Mismatch {
    Mismatch {
        at: at.to_owned(),
        problem,
    }
}
