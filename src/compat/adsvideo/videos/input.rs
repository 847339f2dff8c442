//! A generate request as a native [`TaskInput`]: the prompt under the native rule (not blank,
//! at most `TASKHUB_MAX_PROMPT_CHARS`), a model from the server's `TASKHUB_MODELS` (the
//! reference's `sora-1` and `runway-gen3` only if the server lists them), that model's
//! shortest duration and a landscape size when it allows one (the AdsVideo backend made
//! 1280x720 ads), and the reference image: the `file_path` of one of the caller's own uploads
//! (`POST /api/v1/upload/image`, resolved by the uploads service, no HTTP fetch), or an
//! http(s) URL that the task use case fetches once under the native fetch rules.

use crate::auth::AuthUser;
use crate::compat::detail::{Detail, DetailResult};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;
use crate::tasks::usecases::TaskInput;
use crate::uploads::Uploads;

/// The model a request without one gets.
pub const DEFAULT_MODEL: &str = "sora-2";
/// The size preferred when the model allows it: the AdsVideo backend's landscape output.
pub const PREFERRED_SIZE: &str = "1280x720";
/// Longest reference image URL or path (as natively).
const MAX_URL_BYTES: usize = 2048;
/// This API's name of the reference image field.
const FIELD: &str = "reference_image_url";

pub(super) async fn task_input(
    state: &AppState,
    user: &AuthUser,
    prompt: String,
    model: Option<String>,
    reference: Option<String>,
) -> DetailResult<TaskInput> {
    let settings = &state.settings;
    let mut errors: FieldErrors = Vec::new();
    let chars = prompt.chars().count();
    if prompt.trim().is_empty() {
        errors.push(("prompt".into(), "required, must not be blank".into()));
    } else if chars > settings.max_prompt_chars {
        let max = settings.max_prompt_chars;
        errors.push((
            "prompt".into(),
            format!("at most {max} characters (got {chars})"),
        ));
    }
    let model_id = model.unwrap_or_else(|| DEFAULT_MODEL.into());
    let spec = settings.model(&model_id);
    if spec.is_none() {
        let known: Vec<_> = settings.models.iter().map(|m| m.id.as_str()).collect();
        let msg = format!(
            "model '{model_id}' is not available here; one of {}",
            known.join(", ")
        );
        errors.push(("model".into(), msg));
    }
    let reference = reference.filter(|r| !r.is_empty());
    if let Some(r) = &reference {
        if r.len() > MAX_URL_BYTES || !(is_http_url(r) || r.starts_with('/')) {
            let msg = "an uploaded file_path or an http(s) URL of at most 2048 characters";
            errors.push((FIELD.into(), msg.into()));
        }
    }
    let Some(spec) = spec.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors).into());
    };
    let size = if spec.sizes.iter().any(|s| s == PREFERRED_SIZE) {
        PREFERRED_SIZE.to_string()
    } else {
        spec.sizes.first().cloned().unwrap_or_default()
    };
    let mut input = TaskInput {
        prompt,
        model: model_id,
        seconds: spec.seconds.first().copied().map(i64::from).unwrap_or(4),
        size,
        quality: "standard".into(),
        webhook_url: None,
        reference_image_url: reference,
        image: None,
    };
    // One of the caller's own uploads becomes the task's image (no fetch); anything else
    // must be an http(s) URL, fetched by the task use case.
    Uploads::from(state)
        .resolve_reference(user, &mut input, None)
        .await
        .map_err(native_fields)?;
    let fetchable = input.reference_image_url.as_deref().is_none_or(is_http_url);
    if input.image.is_none() && !fetchable {
        return Err(field("not one of your uploads"));
    }
    Ok(input)
}

fn is_http_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
}

fn field(msg: &str) -> Detail {
    Detail::field("body", FIELD, msg, "value_error")
}

/// A native refusal of the image (`referenceImageUrl`, or `image` when it cannot be fitted)
/// named as this API names the field; anything else as it is.
pub(super) fn native_fields(e: ApiError) -> Detail {
    match e {
        ApiError::Validation(fields) => {
            let renamed = fields
                .into_iter()
                .map(|(f, m)| match f.as_str() {
                    "referenceImageUrl" | "referenceImageUploadId" | "image" => (FIELD.into(), m),
                    _ => (f, m),
                })
                .collect();
            ApiError::Validation(renamed).into()
        }
        other => other.into(),
    }
}

/// A model's name, version and description for the models list (the reference's cards
/// for the models it knew; the id itself for others).
pub(super) fn model_card(id: &str) -> (String, String, String) {
    let (name, version, description) = match id {
        "sora-2" => (
            "Sora 2",
            "Latest",
            "Most advanced AI video generation model",
        ),
        "sora-2-pro" => ("Sora 2 Pro", "Pro", "Sora 2 at higher quality"),
        "sora-1" => ("Sora 1", "Stable", "Reliable AI video generation"),
        "runway-gen3" => ("Runway Gen-3", "Beta", "High-quality video generation"),
        other => (other, "", ""),
    };
    (name.into(), version.into(), description.into())
}
