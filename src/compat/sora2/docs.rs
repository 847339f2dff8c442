//! The adapter's part of the OpenAPI document, tag `Sora 2 compat`: its operations are
//! annotated at the default prefix (`/compat/sora2`); [`finish`] moves them to the configured
//! one and gives every refusal the `{"detail"}` shape (the adapter's handlers answer it, and
//! `compat::envelope` rewrites the refusals of the layers around them), adding the rate limiter's 429
//! where its class applies.

use serde_json::{json, Value};
use utoipa::OpenApi;

use super::{auth, dto, payments, showcase, tasks, uploads, users, videos};
use crate::config::Settings;

/// Where the operations are annotated.
const DOC_PREFIX: &str = "/compat/sora2";
const NATIVE_ERROR: &str = "#/components/schemas/ErrorEnvelope";
const DETAIL: &str = "#/components/schemas/Sora2Detail";

#[derive(OpenApi)]
#[openapi(
    paths(
        auth::google_login,
        auth::refresh,
        auth::logout,
        auth::me,
        auth::test_login,
        uploads::upload,
        videos::text_to_video,
        videos::image_to_video,
        videos::video_task,
        tasks::one,
        tasks::list,
        tasks::cancel,
        tasks::retry,
        payments::packages,
        payments::create,
        payments::one,
        payments::webhook,
        payments::refund,
        users::profile,
        users::update_profile,
        users::credits,
        users::transactions,
        users::delete_account,
        showcase::videos,
        showcase::video,
    ),
    components(schemas(dto::DetailOut)),
    tags((name = "Sora 2 compat", description = "The Sora 2 platform API (docs/compat.md), under TASKHUB_COMPAT_SORA2_PREFIX; errors are {\"detail\": …}"))
)]
pub struct Sora2Doc;

/// Moves the operations under the configured prefix and gives their refusals the
/// `{"detail"}` shape (run after the shared refusals are added).
pub fn finish(doc: &mut Value, settings: &Settings) {
    let prefix = settings
        .compat_sora2
        .checked_prefix()
        .unwrap_or(DOC_PREFIX)
        .to_string();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let ours: Vec<String> = paths
        .keys()
        .filter(|p| p.starts_with(&format!("{DOC_PREFIX}/")))
        .cloned()
        .collect();
    for old in ours {
        let Some(mut item) = paths.remove(&old) else {
            continue;
        };
        let path = format!("{prefix}{}", &old[DOC_PREFIX.len()..]);
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            detail_refusals(&path, method, op, &prefix);
        }
        paths.insert(path, item);
    }
}

fn detail_refusals(path: &str, method: &str, op: &mut Value, prefix: &str) {
    let limited = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .and_then(|m| crate::http::rate_compat::classify_sora2(&m, path, prefix))
        .is_some();
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, r) in responses.iter_mut() {
        if !status.starts_with('2') {
            r["content"] = json!({"application/json": {"schema": {"$ref": DETAIL}}});
        }
    }
    if limited {
        let header = |d: &str| json!({"description": d, "schema": {"type": "integer"}});
        responses.insert(
            "429".into(),
            json!({
                "description": "Over this route class's per-minute quota",
                "content": {"application/json": {"schema": {"$ref": DETAIL}}},
                "headers": {
                    "Retry-After": header("Seconds to wait"),
                    "X-RateLimit-Limit": header("Requests per minute"),
                    "X-RateLimit-Remaining": header("Left in the current window"),
                },
            }),
        );
    }
    debug_assert!(!op.to_string().contains(NATIVE_ERROR));
}
