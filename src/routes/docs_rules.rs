//! What [`super::docs::document`] adds to the generated document: the refusals every route
//! shares (they come from extractors and layers, not from the handlers) and the parts this
//! server's settings decide (metrics route, models, packages, prompt length).

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::config::Settings;

const ERROR_REF: &str = "#/components/schemas/ErrorEnvelope";

pub(super) fn apply(doc: &mut Value, settings: &Settings) {
    if !(settings.ops.metrics && settings.ops.metrics_addr.is_none()) {
        if let Some(paths) = doc["paths"].as_object_mut() {
            paths.remove("/metrics");
        }
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                shared_refusals(path, method, op);
                empty_means_default(op);
            }
        }
    }
    super::docs_settings::apply(doc, settings);
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}})
}

/// The refusals that do not depend on the handler: authentication (the `AuthUser`
/// extractor), JSON bodies (`ApiJson`), query strings (`ApiQuery`), rate limits
/// (`http::rate`, by the same classification) and overload (`http::serve`,
/// `http::timeouts`, the password-hashing queue).
fn shared_refusals(path: &str, method: &str, op: &mut Value) {
    let secured = op.get("security").is_none();
    let json_body = op
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let query = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let limited = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .and_then(|m| crate::http::rate::classify(&m, path))
        .is_some();
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    let mut add = |code: &str, description: &str| {
        responses
            .entry(code.to_string())
            .or_insert_with(|| error_response(description));
    };
    if secured {
        add("401", "`unauthorized`: no valid bearer token or API key");
    }
    if json_body {
        add("400", "`badRequest`: malformed JSON");
        add("408", "`requestTimeout`: the body arrived too slowly");
        add("413", "`payloadTooLarge`: body over the limit");
        add(
            "415",
            "`unsupportedMediaType`: not `Content-Type: application/json`",
        );
        add(
            "422",
            "`validationFailed`: `error.fields` names each bad field",
        );
    }
    if query {
        add("400", "`badRequest`: invalid query string");
    }
    add(
        "503",
        "`busy` (too many connections, or the password-hashing queue is full) or `timeout` (the handler took too long)",
    );
    if limited {
        responses.insert("429".into(), rate_limited());
    }
}

fn rate_limited() -> Value {
    let mut r = error_response("`rateLimited`: over this route class's per-minute quota");
    let header = |d: &str| json!({"description": d, "schema": {"type": "integer"}});
    r["headers"] = Value::Object(Map::from_iter([
        ("Retry-After".to_string(), header("Seconds to wait")),
        (
            "X-RateLimit-Limit".to_string(),
            header("Requests per minute"),
        ),
        (
            "X-RateLimit-Remaining".to_string(),
            header("Left in the current window"),
        ),
    ]));
    r
}

/// An empty numeric query value (`?page=`, as HTML forms send) means its default
/// (`routes::tasks::parse_range`), so the document allows it.
fn empty_means_default(op: &mut Value) {
    let params = op.get_mut("parameters").and_then(Value::as_array_mut);
    for p in params.into_iter().flatten() {
        if p["in"] == "query" && p["schema"]["type"] == "integer" {
            let number = p["schema"].take();
            p["schema"] = json!({"anyOf": [number, {"type": "string", "maxLength": 0}]});
        }
    }
}
