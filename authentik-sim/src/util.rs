//! What every simulated endpoint shares: Authentik's error bodies, its pagination, JSON body
//! reading with Authentik's answers to bad bodies, filters and required fields.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An answer that is not a success.
pub type Reject = Response;

/// A handler's answer: `Err` carries the refusal Authentik would give, so `?` returns it early.
pub type Answer = Result<Response, Response>;

/// `{"detail": …}` with `status` (Authentik's `GenericError`).
pub fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "detail": text }))).into_response()
}

/// 404 as a viewset's `get_object` answers it.
pub fn not_found(model: &str) -> Response {
    detail(
        StatusCode::NOT_FOUND,
        &format!("No {model} matches the given query."),
    )
}

/// 400 with field errors (`ValidationError`): `{"field": ["message"]}`.
pub fn field_error(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ field: [message] })),
    )
        .into_response()
}

/// 400 `{"non_field_errors": "…"}`, the string form views raise directly (API-NOTES §1).
pub fn non_field_string(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "non_field_errors": message })),
    )
        .into_response()
}

/// 201 with the object.
pub fn created(object: Value) -> Response {
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

/// 200 with the object.
pub fn ok(object: Value) -> Response {
    (StatusCode::OK, axum::Json(object)).into_response()
}

/// Reads a JSON object body as Authentik does: only JSON (415 otherwise), 400 on a parse error.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Reject> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !body.is_empty() && !content_type.starts_with("application/json") {
        return Err(detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{content_type}\" in request."),
        ));
    }
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err((
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
            ),
        )
            .into_response()),
        Err(e) => Err(detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - {e}"),
        )),
    }
}

/// 400 naming every required field that is missing (all at once, as DRF does).
pub fn require(body: &Map<String, Value>, fields: &[&str]) -> Result<(), Reject> {
    let missing: Map<String, Value> = fields
        .iter()
        .filter(|f| !body.contains_key(**f))
        .map(|f| ((*f).to_owned(), json!(["This field is required."])))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err((StatusCode::BAD_REQUEST, axum::Json(Value::Object(missing))).into_response())
    }
}

/// Keeps the items whose `field` equals the query value, for each filter present in `query`.
pub fn filter(items: &[Value], query: &HashMap<String, String>, fields: &[&str]) -> Vec<Value> {
    items
        .iter()
        .filter(|item| {
            fields.iter().all(|f| match query.get(*f) {
                None => true,
                Some(wanted) => match &item[*f] {
                    Value::String(s) => s == wanted,
                    Value::Bool(b) => wanted == &b.to_string(),
                    Value::Number(n) => wanted == &n.to_string(),
                    Value::Null => wanted.is_empty(),
                    _ => false,
                },
            })
        })
        .cloned()
        .collect()
}

/// One page of `items` in Authentik's shape; `next`/`previous` are page numbers, 0 for none.
pub fn paginate(items: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size: usize = query
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .max(1);
    let count = items.len();
    let total_pages = count.div_ceil(size).max(1);
    if page > total_pages {
        return detail(StatusCode::NOT_FOUND, "Invalid page.");
    }
    let start = (page - 1) * size;
    let results: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let end_index = start + results.len();
    ok(json!({
        "pagination": {
            "next": if page < total_pages { page + 1 } else { 0 },
            "previous": page.saturating_sub(1),
            "count": count, "current": page, "total_pages": total_pages,
            "start_index": if count == 0 { 0 } else { start + 1 }, "end_index": end_index,
        },
        "results": results,
        "autocomplete": {},
    }))
}

/// Replaces the writable fields of `object` that `patch` sends (JSON fields whole: no merge).
/// PATCH of the object of `objects` whose `field` is `value`: the writable fields of `patch`
/// applied, the object answered (404 naming `model` when there is none).
pub fn patch_where(
    objects: &mut [Value],
    field: &str,
    value: &str,
    patch: &Map<String, Value>,
    writable: &[&str],
    model: &str,
) -> Answer {
    let object = objects
        .iter_mut()
        .find(|o| o[field] == value)
        .ok_or_else(|| not_found(model))?;
    apply_patch(object, patch, writable);
    Ok(ok(object.clone()))
}

pub fn apply_patch(object: &mut Value, patch: &Map<String, Value>, writable: &[&str]) {
    for (key, value) in patch {
        if writable.contains(&key.as_str()) {
            object[key] = value.clone();
        }
    }
}
