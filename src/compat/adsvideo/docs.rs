//! The adapter's part of the OpenAPI document, tag `AdsVideo v1`. [`finish`] gives every
//! refusal of its operations the `{"detail"}` shape: its handlers answer it, and
//! `compat::envelope` rewrites the refusals of the layers around them (429, 408, 413, 503,
//! 405). The shared refusals and the 429 of the operation's rate class are added by the
//! native rules first (`routes::docs_rules`: `/api/v1/…` is classified by
//! `http::rate_compat::classify_adsvideo`).

use serde_json::{json, Value};
use utoipa::OpenApi;

use super::{auth, dto, showcase, uploads, users, videos, PREFIX};
use crate::config::Settings;

const DETAIL: &str = "#/components/schemas/AdsVideoDetail";

/// This API's operations, under the tag `AdsVideo v1`.
#[derive(OpenApi)]
#[openapi(
    paths(
        auth::google,
        auth::refresh,
        auth::me,
        auth::logout,
        users::get_profile,
        users::patch_profile,
        users::credits,
        users::recent,
        videos::generate,
        videos::list,
        videos::get_one,
        videos::delete,
        videos::retry,
        videos::models,
        showcase::videos,
        showcase::featured,
        showcase::hero_videos,
        showcase::trial_images,
        uploads::image,
        uploads::validate,
    ),
    components(schemas(dto::DetailBody)),
    tags((name = "AdsVideo v1", description = "The AdsVideo backend's `/api/v1` API over taskhub's services: snake_case bodies, integer ids, `{\"detail\"}` errors (docs/compat.md)"))
)]
pub struct AdsVideoDoc;

/// Gives the refusals of the adapter's operations the `{"detail"}` shape (run after the
/// shared refusals are added), and says what this server's settings decide: the models a
/// generate request may name and the longest prompt.
pub fn finish(doc: &mut Value, settings: &Settings) {
    if let Some(gen) = doc.pointer_mut("/components/schemas/AdsVideoGenerate/properties") {
        // `null` is the default model, like an absent field.
        let mut models: Vec<Value> = settings.models.iter().map(|m| json!(m.id)).collect();
        models.push(Value::Null);
        gen["prompt"] = json!({
            "type": "string", "minLength": 1, "maxLength": settings.max_prompt_chars,
            "pattern": r"\S", "description": "What to generate; not blank"
        });
        gen["model"] = json!({
            "type": ["string", "null"], "enum": models,
            "description": "Default `sora-2`; one of the models this server runs (`GET /api/v1/videos/models/list`)"
        });
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let ours = format!("{PREFIX}/");
    for (_, item) in paths.iter_mut().filter(|(p, _)| p.starts_with(&ours)) {
        for (_, op) in item.as_object_mut().into_iter().flatten() {
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            for (status, r) in responses.iter_mut() {
                if !status.starts_with('2') {
                    r["content"] = json!({"application/json": {"schema": {"$ref": DETAIL}}});
                }
            }
        }
    }
}
