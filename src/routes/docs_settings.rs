//! The parts of the document this server's settings decide, so that a request the document
//! allows is one this server accepts: models with their seconds and sizes, the longest
//! prompt, the credit packages and the `returnUrl` origins.

use serde_json::{json, Value};

use crate::config::Settings;

/// The model a task gets when it names none (see `task_input::validate`).
const DEFAULT_MODEL: &str = "sora-2";
/// The size a task gets when it names none.
const DEFAULT_SIZE: &str = "720x1280";
/// A path or query part of a URL, in characters every URL parser takes as they are.
/// The path (and query) after an origin: any printable ASCII, as the URL parser accepts
/// (`*`, `%`, `?`… are legal there); none at all is the origin's root.
const URL_PATH: &str = r"(/[!-~]*)?";
/// A `returnUrl` given as a path alone: it must start with `/`.
const PATH_ONLY: &str = r"/[!-~]*";

pub(super) fn apply(doc: &mut Value, settings: &Settings) {
    let schemas = &mut doc["components"]["schemas"];
    if let Some(task) = schemas.get_mut("CreateTask") {
        create_task(task, settings, false);
    }
    if let Some(task) = schemas.get_mut("CreateTaskMultipart") {
        create_task(task, settings, true);
    }
    if let Some(pay) = schemas.get_mut("CreatePayment") {
        create_payment(pay, settings);
    }
    if let Some(sub) = schemas.get_mut("SubscriptionCheckout") {
        // The same returnUrl rule as a package checkout.
        let mut pay = json!({"properties": {}});
        create_payment(&mut pay, settings);
        sub["properties"]["returnUrl"] = pay["properties"]["returnUrl"].take();
    }
    if let Some(remix) = schemas.get_mut("RemixBody") {
        // The prompt of a new task, and required.
        let mut task = json!({"properties": {}});
        create_task(&mut task, settings, false);
        remix["properties"]["prompt"] = task["properties"]["prompt"].take();
        remix["required"] = json!(["prompt"]);
    }
    let form = "/paths/~1api~1video~1tasks/post/requestBody/content/multipart~1form-data";
    if let Some(form) = doc.pointer_mut(form) {
        form["encoding"] = json!({"image": {"contentType": "image/png, image/jpeg, image/webp"}});
    }
}

/// One `anyOf` branch per model: its id, seconds and sizes. The default model's branch does
/// not need `model`; a branch without `size` is only there if the default size is allowed.
fn create_task(schema: &mut Value, settings: &Settings, multipart: bool) {
    schema["properties"]["prompt"] = json!({
        "type": "string", "minLength": 1, "maxLength": settings.max_prompt_chars,
        "pattern": r"\S", "description": "What to generate; not blank"
    });
    let branches: Vec<Value> = settings
        .models
        .iter()
        .map(|m| {
            let seconds: Vec<Value> = if multipart {
                m.seconds.iter().map(|s| json!(s.to_string())).collect()
            } else {
                m.seconds.iter().map(|s| json!(s)).collect()
            };
            let mut required = Vec::new();
            if m.id != DEFAULT_MODEL {
                required.push("model");
            }
            if !m.sizes.iter().any(|s| s == DEFAULT_SIZE) {
                required.push("size");
            }
            json!({
                "properties": {
                    "model": {"const": m.id},
                    "seconds": {"enum": seconds},
                    "size": {"enum": m.sizes},
                },
                "required": required,
            })
        })
        .collect();
    schema["anyOf"] = Value::Array(branches);
    schema["required"] = if multipart {
        json!(["prompt", "image"])
    } else {
        json!(["prompt"])
    };
    let ids: Vec<&str> = settings.models.iter().map(|m| m.id.as_str()).collect();
    schema["properties"]["model"] =
        json!({"type": "string", "enum": ids, "default": DEFAULT_MODEL});
}

fn create_payment(schema: &mut Value, settings: &Settings) {
    let b = &settings.billing;
    let ids: Vec<&str> = b.credit_packages.iter().map(|p| p.id.as_str()).collect();
    schema["properties"]["package"] = json!({"type": "string", "enum": ids});
    let origins: Vec<String> = b
        .payment_return_origins
        .split(',')
        .filter_map(|s| url::Url::parse(s.trim()).ok())
        .map(|u| regex_escape(&u.origin().ascii_serialization()))
        .collect();
    let pattern = if !origins.is_empty() {
        format!("^(({}){URL_PATH}|{PATH_ONLY})$", origins.join("|"))
    } else {
        // Development without a list: loopback only (production refuses every returnUrl).
        format!(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[1-9][0-9]{{0,3}})?{URL_PATH}$")
    };
    schema["properties"]["returnUrl"] = json!({
        "type": "string", "maxLength": 2048, "pattern": pattern,
        "description": "Where Stripe sends the user back: an http(s) URL of an allowed origin (TASKHUB_PAYMENT_RETURN_ORIGINS; loopback in development), or a path on the first"
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = r"\.+*?()|[]{}^$/".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
