//! Parsing and validating a task-creation request: JSON (text-to-video) or multipart with an
//! `image` part (image-to-video). Every problem is reported per field with a 422. Nothing is
//! written here: an uploaded image is kept in memory until the plan and credit checks pass.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::Value;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::tasks::uploads::{self, ImageData};
use crate::tasks::usecases::TaskInput;

/// The raw fields, as a client may send them (`duration` is the older clients' `seconds`).
/// Creating a task costs credits, so an unknown field (say `reference_image_url`, which would
/// silently make an image task a text one) is a 422 naming it, not ignored.
/// In the document, `prompt`, `model`, `seconds` and `size` are filled in from the settings
/// (`routes::docs_settings`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateTask)]
pub struct CreateTaskBody {
    pub prompt: Option<String>,
    pub model: Option<String>,
    /// Also accepted as `duration`, and as a string of digits.
    #[serde(alias = "duration")]
    #[schema(value_type = Option<i64>)]
    pub seconds: Option<Value>,
    /// Default `720x1280`.
    pub size: Option<String>,
    /// Default `standard`.
    #[schema(pattern = "^(standard|hd)$")]
    pub quality: Option<String>,
    /// Called on every change of the task.
    #[schema(
        pattern = r"^https?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(/[!-~]*)?$",
        max_length = 2048
    )]
    pub webhook_url: Option<String>,
    /// An image to animate, fetched once at creation (makes an image-to-video task).
    #[schema(
        pattern = r"^https?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(/[!-~]*)?$",
        max_length = 2048
    )]
    pub reference_image_url: Option<String>,
    /// One of the caller's own image uploads (`POST /api/uploads`) to animate, instead of
    /// `referenceImageUrl` or an image part (makes an image-to-video task).
    #[schema(
        pattern = r"^upl_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub reference_image_upload_id: Option<String>,
}

/// The multipart form of [`CreateTaskBody`], with the image to animate (documentation only:
/// the parts are read one by one in [`read`]).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateTaskMultipart)]
#[allow(dead_code)]
pub struct CreateTaskMultipart {
    prompt: Option<String>,
    model: Option<String>,
    seconds: Option<String>,
    size: Option<String>,
    #[schema(pattern = "^(standard|hd)$")]
    quality: Option<String>,
    #[schema(
        pattern = r"^https?://[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*(/[!-~]*)?$",
        max_length = 2048
    )]
    webhook_url: Option<String>,
    /// PNG, JPEG or WebP (also accepted as `input_reference`); or instead
    /// `referenceImageUploadId`.
    #[schema(value_type = Option<String>, format = Binary)]
    image: Option<Vec<u8>>,
    /// One of the caller's own image uploads, instead of an image part.
    #[schema(
        pattern = r"^upl_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    reference_image_upload_id: Option<String>,
}

/// A remix's prompt, under the creation rules (not blank, at most `max_prompt_chars`).
pub fn validate_prompt(prompt: Option<String>, settings: &Settings) -> ApiResult<String> {
    let prompt = prompt.unwrap_or_default();
    let chars = prompt.chars().count();
    if prompt.trim().is_empty() {
        return Err(ApiError::field("prompt", "required, must not be blank"));
    }
    if chars > settings.max_prompt_chars {
        let max = settings.max_prompt_chars;
        let m = format!("at most {max} characters (got {chars})");
        return Err(ApiError::field("prompt", m));
    }
    Ok(prompt)
}

pub fn validate(body: CreateTaskBody, settings: &Settings) -> ApiResult<TaskInput> {
    let mut errors: FieldErrors = Vec::new();
    let mut err = |f: &str, m: String| errors.push((f.to_string(), m));
    let prompt = body.prompt.unwrap_or_default();
    let chars = prompt.chars().count();
    if prompt.trim().is_empty() {
        err("prompt", "required, must not be blank".into());
    } else if chars > settings.max_prompt_chars {
        err(
            "prompt",
            format!(
                "at most {} characters (got {chars})",
                settings.max_prompt_chars
            ),
        );
    }
    let model_id = body.model.unwrap_or_else(|| "sora-2".into());
    let model = settings.model(&model_id);
    if model.is_none() {
        let known: Vec<_> = settings.models.iter().map(|m| m.id.as_str()).collect();
        err(
            "model",
            format!("unknown model '{model_id}'; one of {}", known.join(", ")),
        );
    }
    let seconds = match body.seconds {
        None => model
            .and_then(|m| m.seconds.first().copied())
            .map(i64::from),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match (seconds, model) {
        (None, _) => err("seconds", "must be a whole number of seconds".into()),
        (Some(s), Some(m)) if !m.seconds.iter().any(|&a| i64::from(a) == s) => {
            err("seconds", format!("{model_id} allows {:?}", m.seconds))
        }
        _ => {}
    }
    let size = body.size.unwrap_or_else(|| "720x1280".into());
    if let Some(m) = model {
        if !m.sizes.contains(&size) {
            err("size", format!("{model_id} allows {}", m.sizes.join(", ")));
        }
    }
    let quality = body.quality.unwrap_or_else(|| "standard".into());
    if quality != "standard" && quality != "hd" {
        err("quality", "standard or hd".into());
    }
    for (field, url) in [
        ("webhookUrl", &body.webhook_url),
        ("referenceImageUrl", &body.reference_image_url),
    ] {
        if let Some(u) = url {
            let good = url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
                && u.len() <= 2048;
            if !good {
                err(
                    field,
                    "must be an http(s) URL of at most 2048 characters".into(),
                );
            }
        }
    }
    if let Some(id) = &body.reference_image_upload_id {
        if !crate::uploads::is_upload_id(id) {
            err("referenceImageUploadId", "must be upl_<uuid>".into());
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(TaskInput {
        prompt,
        model: model_id,
        seconds: seconds.unwrap_or_default(),
        size,
        quality,
        webhook_url: body.webhook_url,
        reference_image_url: body.reference_image_url,
        image: None,
    })
}

/// A parsed creation request: the input, and the `referenceImageUploadId` (resolved by the
/// uploads service into `input.image` before the task is created).
pub struct ReadTask {
    pub input: TaskInput,
    pub upload_id: Option<String>,
}

/// Reads JSON or multipart, by `Content-Type`; anything else is a 415.
pub async fn read(req: Request, settings: &Settings) -> ApiResult<ReadTask> {
    let ctype = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &()).await.map_err(|e| {
            ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text()))
        })?;
        return read_multipart(mp, settings).await;
    }
    if !ctype.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "expected application/json or multipart/form-data".into(),
        ));
    }
    let super::extract::ApiJson(body) =
        super::extract::ApiJson::<CreateTaskBody>::from_request(req, &()).await?;
    let upload_id = body.reference_image_upload_id.clone();
    let input = validate(body, settings)?;
    Ok(ReadTask { input, upload_id })
}

async fn read_multipart(mut mp: Multipart, settings: &Settings) -> ApiResult<ReadTask> {
    let mut body = CreateTaskBody::default();
    let mut image: Option<ImageData> = None;
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "image" || name == "input_reference" {
            let ctype = field.content_type().unwrap_or("").to_string();
            let Some(ext) = uploads::ext_for(&ctype) else {
                return Err(ApiError::field(
                    "image",
                    format!("must be PNG, JPEG or WebP (got '{ctype}')"),
                ));
            };
            let data = field.bytes().await.map_err(multipart_error)?;
            if data.is_empty() {
                return Err(ApiError::field("image", "is empty"));
            }
            if data.len() > settings.max_upload_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "image larger than {} bytes",
                    settings.max_upload_bytes
                )));
            }
            image = Some(ImageData { bytes: data, ext });
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "prompt" => body.prompt = Some(text),
            "model" => body.model = Some(text),
            "seconds" | "duration" => body.seconds = Some(Value::String(text)),
            "size" => body.size = Some(text),
            "quality" => body.quality = Some(text),
            "webhookUrl" => body.webhook_url = Some(text),
            "referenceImageUrl" => body.reference_image_url = Some(text),
            "referenceImageUploadId" => body.reference_image_upload_id = Some(text),
            other => return Err(crate::error::unknown_field(other)),
        }
    }
    if image.is_none() && body.reference_image_upload_id.is_none() {
        return Err(ApiError::field(
            "image",
            "a multipart request needs an image part (or referenceImageUploadId)",
        ));
    }
    let upload_id = body.reference_image_upload_id.clone();
    let mut input = validate(body, settings)?;
    input.image = image;
    Ok(ReadTask { input, upload_id })
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("upload too large".into())
    } else {
        ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text()))
    }
}
