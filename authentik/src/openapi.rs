//! A validator of JSON against Authentik's OpenAPI 3.0 document, by the `jsonschema` crate: the
//! document's schemas are translated once per direction into JSON Schema (2020-12) and every
//! keyword is checked, `pattern` and formats (`uuid`, `date-time`, `email`, `uri`) included.
//!
//! The translation: OpenAPI's `nullable: true` becomes a `null` alternative; request schemas do
//! not require `readOnly` properties, response schemas not `writeOnly` ones. Two recorded
//! deviations of Authentik from its own schema are accepted: `non_field_errors` as a string,
//! which views raising errors directly send though the schema says array (API-NOTES §1); and
//! `null` for a read-only nested `*_obj` whose relation is unset (`PolicyBinding.group_obj` when
//! the binding binds a policy): the serializer declares it
//! `GroupSerializer(required=False, read_only=True, source="group")`, which DRF renders as null,
//! while the generated schema marks it non-nullable. A third is taken from Django: a `uri` or
//! `email` field declared `blank=True` (`Application.meta_launch_url`, default `""`;
//! `User.email`) holds and accepts `""`, which the formats alone would refuse.
//!
//! A document may be loaded from several files ([`OpenApi::load_all`]): the shared subset and
//! this repository's extension of it (`authentik/openapi-extension.yaml`), merged path by path
//! and schema by schema.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

/// Whether a value travels to or from the server (decides readOnly / writeOnly handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
pub struct OpenApi {
    doc: Value,
    /// `components/schemas` as JSON Schema, for requests and for responses.
    translated: [Value; 2],
    /// Compiled validators, by what they validate.
    validators: Mutex<HashMap<(String, Direction), Arc<jsonschema::Validator>>>,
}

impl fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenApi")
            .field("paths", &self.doc["paths"].as_object().map_or(0, Map::len))
            .finish_non_exhaustive()
    }
}

impl OpenApi {
    /// Loads a YAML (or JSON) document.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError::Load(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// The calls Dezky Jobs makes: the shared subset of Authentik's schema
    /// (`../shared/authentik/openapi-subset.yaml`, beside the project) with this repository's
    /// extension of it (`authentik/openapi-extension.yaml`).
    pub fn as_used() -> Result<Self, SpecError> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        Self::load_all(&[
            &dir.join("../../shared/authentik/openapi-subset.yaml"),
            &dir.join("openapi-extension.yaml"),
        ])
    }

    /// Loads several documents as one: the later ones add paths, operations and schemas to the
    /// first (an operation or schema given twice is an error: an extension adds, never
    /// overrides).
    pub fn load_all(paths: &[&Path]) -> Result<Self, SpecError> {
        let mut doc = Value::Null;
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SpecError::Load(format!("{}: {e}", path.display())))?;
            let part = parse_yaml(&text)?;
            if doc.is_null() {
                doc = part;
            } else {
                merge(&mut doc, part)
                    .map_err(|e| SpecError::Load(format!("{}: {e}", path.display())))?;
            }
        }
        Ok(Self::from_value(doc))
    }

    /// Parses a YAML (or JSON) document.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        Ok(Self::from_value(parse_yaml(text)?))
    }

    fn from_value(doc: Value) -> Self {
        let translated = [Direction::Request, Direction::Response].map(|dir| {
            let schemas = doc
                .pointer("/components/schemas")
                .and_then(Value::as_object);
            let translated: Map<String, Value> = schemas
                .into_iter()
                .flatten()
                .map(|(name, s)| (name.clone(), translate(&doc, s, dir)))
                .collect();
            Value::Object(translated)
        });
        Self {
            doc,
            translated,
            validators: Mutex::default(),
        }
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

    /// The operation of `method path`, and its path template.
    fn operation(&self, method: &str, path: &str) -> Result<(&Value, String), SpecError> {
        let no_op = || SpecError::NoOperation {
            method: method.to_uppercase(),
            path: path.to_owned(),
        };
        let template = self.template_for(path).ok_or_else(no_op)?;
        let op = self.doc["paths"][&template]
            .get(method.to_lowercase())
            .ok_or_else(no_op)?;
        Ok((op, template))
    }

    /// Validates a request body of `method path`.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), Vec<Mismatch>> {
        let (op, template) = self
            .operation(method, path)
            .map_err(|e| vec![mismatch("", e.to_string())])?;
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            return Err(vec![mismatch(
                "",
                format!("{method} {path} takes no JSON body"),
            )]);
        };
        let key = format!("{method} {template} request");
        self.check(&key, schema, body, Direction::Request)
    }

    /// Validates a response body of `method path` with `status`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<Mismatch>> {
        let (op, template) = self
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
            Some(schema) => {
                let key = format!("{method} {template} {status}");
                self.check(&key, schema, body, Direction::Response)
            }
            None if body.is_null() => Ok(()),
            None => Err(vec![mismatch(
                "",
                format!("status {status} documents no body, got one"),
            )]),
        }
    }

    /// Validates `value` against the schema named `name` under `components/schemas`.
    pub fn check_named(
        &self,
        name: &str,
        value: &Value,
        direction: Direction,
    ) -> Result<(), Vec<Mismatch>> {
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        self.check(&format!("schema {name}"), &schema, value, direction)
    }

    /// The schema named `name` under `components/schemas`, as the document has it.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.doc.pointer(&format!("/components/schemas/{name}"))
    }

    /// Validates `value` against `schema` (of this document), compiled once under `key`.
    fn check(
        &self,
        key: &str,
        schema: &Value,
        value: &Value,
        dir: Direction,
    ) -> Result<(), Vec<Mismatch>> {
        let validator = self.validator(key, schema, dir)?;
        let errors: Vec<Mismatch> = validator
            .iter_errors(value)
            .map(|e| mismatch(&e.instance_path().to_string(), e.to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validator(
        &self,
        key: &str,
        schema: &Value,
        dir: Direction,
    ) -> Result<Arc<jsonschema::Validator>, Vec<Mismatch>> {
        let cache_key = (key.to_owned(), dir);
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(&cache_key) {
            return Ok(v.clone());
        }
        // The schema at the root, the translated components beside it, so that
        // `#/components/schemas/…` resolves within the one document.
        let mut root = match translate(&self.doc, schema, dir) {
            Value::Object(map) => map,
            other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
        };
        root.insert(
            "components".into(),
            json!({ "schemas": self.translated[dir as usize] }),
        );
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|e| vec![mismatch("", format!("the schema does not compile: {e}"))])?;
        let validator = Arc::new(validator);
        cache.insert(cache_key, validator.clone());
        Ok(validator)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        resolve(&self.doc, schema)
    }
}

fn parse_yaml(text: &str) -> Result<Value, SpecError> {
    serde_yaml_ng::from_str(text).map_err(|e| SpecError::Load(e.to_string()))
}

/// Adds `part`'s paths (operation by operation) and components (entry by entry) to `doc`.
fn merge(doc: &mut Value, part: Value) -> Result<(), String> {
    let Value::Object(part) = part else {
        return Err("not a document".into());
    };
    for (section, entries) in part {
        let into = match section.as_str() {
            "paths" => "paths",
            "components" => "components",
            _ => continue, // openapi, info: the first document's
        };
        let Value::Object(entries) = entries else {
            return Err(format!("`{section}` is not a map"));
        };
        for (name, value) in entries {
            let target = doc[into]
                .as_object_mut()
                .ok_or_else(|| format!("no `{into}` to add to"))?
                .entry(name.clone())
                .or_insert_with(|| json!({}));
            let (Value::Object(target), Value::Object(value)) = (target, value) else {
                return Err(format!("`{into}/{name}` is not a map"));
            };
            for (inner, v) in value {
                if target.insert(inner.clone(), v).is_some() {
                    return Err(format!("`{into}/{name}/{inner}` is given twice"));
                }
            }
        }
    }
    Ok(())
}

/// Follows `$ref`s (local ones) to the schema they name.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p))
        {
            Some(target) => schema = target,
            None => return schema,
        }
    }
    schema
}

/// One OpenAPI schema as JSON Schema, for `dir` (see the module documentation).
fn translate(doc: &Value, schema: &Value, dir: Direction) -> Value {
    let Value::Object(s) = schema else {
        return schema.clone(); // `true`/`false` schemas
    };
    let flag = |s: &Value, k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
    let mut out = Map::new();
    for (key, value) in s {
        let translated = match key.as_str() {
            "nullable" | "readOnly" | "writeOnly" | "example" | "discriminator" => continue,
            "properties" => {
                let props = value.as_object().into_iter().flatten();
                Value::Object(
                    props
                        .map(|(name, p)| {
                            let mut t = translate(doc, p, dir);
                            let read_only = flag(resolve(doc, p), "readOnly");
                            if name == "non_field_errors" {
                                t = json!({ "anyOf": [t, { "type": "string" }] });
                            } else if dir == Direction::Response
                                && name.ends_with("_obj")
                                && read_only
                            {
                                t = json!({ "anyOf": [{ "type": "null" }, t] });
                            }
                            (name.clone(), t)
                        })
                        .collect(),
                )
            }
            "required" => {
                let props = s.get("properties");
                let skipped = |name: &str| {
                    props.and_then(|p| p.get(name)).is_some_and(|p| {
                        let p = resolve(doc, p);
                        match dir {
                            Direction::Request => flag(p, "readOnly"),
                            Direction::Response => flag(p, "writeOnly"),
                        }
                    })
                };
                Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|n| n.as_str().is_none_or(|n| !skipped(n)))
                        .cloned()
                        .collect(),
                )
            }
            "items" | "additionalProperties" | "not" => translate(doc, value, dir),
            "allOf" | "oneOf" | "anyOf" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| translate(doc, v, dir))
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }
    let blank_allowed = matches!(
        s.get("format").and_then(Value::as_str),
        Some("uri" | "email")
    );
    let mut out = if blank_allowed {
        let mut either = Map::new();
        either.insert("anyOf".into(), json!([{ "const": "" }, out]));
        either
    } else {
        out
    };
    if !flag(schema, "nullable") {
        return Value::Object(out);
    }
    match out.get("type").and_then(Value::as_str).map(str::to_owned) {
        Some(ty) => {
            out.insert("type".into(), json!([ty, "null"]));
            if let Some(Value::Array(allowed)) = out.get_mut("enum")
                && !allowed.contains(&Value::Null)
            {
                allowed.push(Value::Null);
            }
            Value::Object(out)
        }
        None => json!({ "anyOf": [{ "type": "null" }, out] }),
    }
}

fn mismatch(at: &str, problem: String) -> Mismatch {
    Mismatch {
        at: at.to_owned(),
        problem,
    }
}
