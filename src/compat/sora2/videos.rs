//! `/api/videos`: text-to-video and image-to-video creation and the video API's task status,
//! over the task use cases (`tasks::TaskContext`): the same plan and credit checks, prices
//! and events as a native task. (The upload endpoint is in `uploads.rs`; an `image_urls`
//! entry naming one of the caller's uploads is read from the store, not fetched.)

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::detail::{DJson, Detail, DetailResult};
use super::dto::{DetailOut, VideoTaskOut};
use super::keys::KeyedUser;
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Task;
use crate::tasks::usecases::TaskInput;
use crate::uploads::Uploads;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/videos/text-to-video", post(text_to_video))
        .route("/api/videos/image-to-video", post(image_to_video))
        .route("/api/videos/tasks/{task_id}", get(video_task))
}

/// `POST /api/videos/text-to-video`.
#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2TextToVideo)]
pub struct TextBody {
    /// Not blank; at most `TASKHUB_MAX_PROMPT_CHARS` characters.
    #[schema(min_length = 1)]
    prompt: String,
    /// Default `landscape`.
    #[schema(pattern = "^(landscape|portrait)$")]
    aspect_ratio: Option<String>,
    /// Default `standard`.
    #[schema(pattern = "^(standard|hd)$")]
    quality: Option<String>,
    /// taskhub's webhook: called on every change of the task (docs/webhooks.md).
    #[schema(max_length = 2048)]
    webhook_url: Option<String>,
}

/// `POST /api/videos/image-to-video`.
#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2ImageToVideo)]
pub struct ImageBody {
    /// Not blank; at most `TASKHUB_MAX_PROMPT_CHARS` characters.
    #[schema(min_length = 1)]
    prompt: String,
    /// Exactly one: an http(s) URL of a PNG, JPEG or WebP image, or the `file_url` of one of
    /// the caller's uploads (`POST /api/videos/upload`). taskhub animates one image.
    #[schema(min_items = 1, max_items = 1)]
    image_urls: Vec<String>,
    /// Default `landscape`.
    #[schema(pattern = "^(landscape|portrait)$")]
    aspect_ratio: Option<String>,
    /// Default `standard`.
    #[schema(pattern = "^(standard|hd)$")]
    quality: Option<String>,
    #[schema(max_length = 2048)]
    webhook_url: Option<String>,
}

/// A new task.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2TaskCreated)]
pub struct CreatedOut {
    success: bool,
    task_id: String,
    message: String,
    /// Credits charged for the task (taskhub's prices).
    credits_estimated: i64,
    /// Seconds, from `TASKHUB_COMPAT_SORA2_ESTIMATED_SECS`.
    estimated_time: u64,
}

/// Generate a video from a prompt; its credits are charged now and refunded if it fails.
#[utoipa::path(post, path = "/compat/sora2/api/videos/text-to-video", tag = "Sora 2 compat",
    request_body = TextBody,
    responses(
        (status = 200, description = "The task, queued", body = CreatedOut),
        (status = 402, description = "Insufficient credits", body = DetailOut),
        (status = 403, description = "invalid or missing X-API-Key, or the plan cannot generate", body = DetailOut),
        (status = 422, description = "a field is missing or invalid", body = DetailOut),
    ))]
async fn text_to_video(
    State(state): State<AppState>,
    KeyedUser(user): KeyedUser,
    DJson(b): DJson<TextBody>,
) -> DetailResult<Json<CreatedOut>> {
    let input = input(
        &state.settings,
        b.prompt,
        b.aspect_ratio,
        b.quality,
        b.webhook_url,
    )?;
    let task = create(&state, &user, input).await?;
    Ok(Json(created(&state, &task, "Text-to-video")))
}

/// Animate an image; its credits are charged now and refunded if it fails.
#[utoipa::path(post, path = "/compat/sora2/api/videos/image-to-video", tag = "Sora 2 compat",
    request_body = ImageBody,
    responses(
        (status = 200, description = "The task, queued", body = CreatedOut),
        (status = 400, description = "the image URL could not be fetched or is not an image", body = DetailOut),
        (status = 402, description = "Insufficient credits", body = DetailOut),
        (status = 403, description = "invalid or missing X-API-Key, or the plan cannot generate", body = DetailOut),
        (status = 422, description = "a field is missing or invalid", body = DetailOut),
    ))]
async fn image_to_video(
    State(state): State<AppState>,
    KeyedUser(user): KeyedUser,
    DJson(b): DJson<ImageBody>,
) -> DetailResult<Json<CreatedOut>> {
    let url = match b.image_urls.as_slice() {
        [one] => one.clone(),
        [] => return Err(field("image_urls", "at least one image URL is required")),
        _ => return Err(field("image_urls", "taskhub animates one image per task")),
    };
    let mut input = input(
        &state.settings,
        b.prompt,
        b.aspect_ratio,
        b.quality,
        b.webhook_url,
    )?;
    if url.len() > 2048 {
        return Err(field("image_urls", "at most 2048 characters"));
    }
    input.reference_image_url = Some(url.clone());
    // The `file_url` of one of the caller's uploads is read from the store, not fetched.
    Uploads::from(&state)
        .resolve_reference(&user, &mut input, None)
        .await
        .map_err(image_refusal)?;
    if input.image.is_none() && !is_http_url(&url) {
        return Err(field(
            "image_urls",
            "must be http(s) URLs of at most 2048 characters, or the file_url of your upload",
        ));
    }
    let task = create(&state, &user, input).await?;
    Ok(Json(created(&state, &task, "Image-to-video")))
}

/// Creates the task; a reference image that cannot be fetched is a 400 on the image URL.
async fn create(state: &AppState, user: &AuthUser, input: TaskInput) -> DetailResult<Task> {
    state
        .tasks
        .create(user, input, None)
        .await
        .map_err(image_refusal)
}

/// A refused reference image (it cannot be fetched, is not an image, or the upload's file
/// is gone) is the reference's 400 `Invalid image URL: …`; anything else as it is.
fn image_refusal(e: ApiError) -> Detail {
    match e {
        ApiError::Validation(fields) if fields.iter().any(|(f, _)| f == "referenceImageUrl") => {
            let why = fields
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("; ");
            Detail::bad_request(format!("Invalid image URL: {why}"))
        }
        e => e.into(),
    }
}

fn created(state: &AppState, task: &Task, what: &str) -> CreatedOut {
    CreatedOut {
        success: true,
        task_id: task.id.clone(),
        message: format!("{what} task created successfully. Credits deducted."),
        credits_estimated: task.credits_charged,
        estimated_time: state.settings.compat_sora2.compat_sora2_estimated_secs,
    }
}

fn field(name: &str, msg: &str) -> Detail {
    Detail::field("body", name, msg, "value_error")
}

fn is_http_url(u: &str) -> bool {
    u.len() <= 2048 && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
}

/// The task input of a creation: taskhub's default model (`sora-2`, else the first), its
/// first allowed length, the model's size for the aspect ratio, the quality, the webhook.
fn input(
    settings: &Settings,
    prompt: String,
    aspect: Option<String>,
    quality: Option<String>,
    webhook_url: Option<String>,
) -> DetailResult<TaskInput> {
    let chars = prompt.chars().count();
    if prompt.trim().is_empty() {
        return Err(field("prompt", "must not be blank"));
    }
    if chars > settings.max_prompt_chars {
        let max = settings.max_prompt_chars;
        return Err(field(
            "prompt",
            &format!("at most {max} characters (got {chars})"),
        ));
    }
    let landscape = match aspect.as_deref().unwrap_or("landscape") {
        "landscape" => true,
        "portrait" => false,
        _ => return Err(field("aspect_ratio", "landscape or portrait")),
    };
    let quality = quality.unwrap_or_else(|| "standard".into());
    if quality != "standard" && quality != "hd" {
        return Err(field("quality", "standard or hd"));
    }
    if webhook_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        return Err(field(
            "webhook_url",
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    let model = settings
        .model("sora-2")
        .or_else(|| settings.models.first())
        .ok_or_else(|| Detail::from(ApiError::Internal(anyhow::anyhow!("no models configured"))))?;
    let size = model
        .sizes
        .iter()
        .find(|s| orientation(s) == Some(landscape))
        .ok_or_else(|| {
            let m = format!(
                "model {} has no {} size",
                model.id,
                if landscape { "landscape" } else { "portrait" }
            );
            field("aspect_ratio", &m)
        })?;
    Ok(TaskInput {
        prompt,
        model: model.id.clone(),
        seconds: model.seconds.first().copied().map_or(0, i64::from),
        size: size.clone(),
        quality,
        webhook_url,
        reference_image_url: None,
        image: None,
    })
}

/// `Some(true)` for a wide `WxH`, `Some(false)` for a tall one.
fn orientation(size: &str) -> Option<bool> {
    let (w, h) = size.split_once('x')?;
    let (w, h) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
    (w != h).then_some(w > h)
}

/// A task the caller owns, by its id (anything else is "Task not found").
pub(super) async fn own_task(state: &AppState, user: &AuthUser, id: &str) -> DetailResult<Task> {
    if !crate::domain::ids::is_video_id(id) {
        return Err(Detail::not_found("Task not found"));
    }
    match state.tasks.user_task(user, id).await {
        Err(ApiError::NotFound(_)) => Err(Detail::not_found("Task not found")),
        other => Ok(other?),
    }
}

/// A task's status, progress and result.
#[utoipa::path(get, path = "/compat/sora2/api/videos/tasks/{task_id}", tag = "Sora 2 compat",
    params(("task_id" = String, Path, description = "The `task_id` a creation answered")),
    responses(
        (status = 200, description = "The task", body = VideoTaskOut),
        (status = 403, description = "invalid or missing X-API-Key", body = DetailOut),
        (status = 404, description = "Task not found", body = DetailOut),
    ))]
async fn video_task(
    State(state): State<AppState>,
    KeyedUser(user): KeyedUser,
    Path(id): Path<String>,
) -> DetailResult<Json<VideoTaskOut>> {
    let task = own_task(&state, &user, &id).await?;
    Ok(Json(VideoTaskOut::new(&task, &state.store)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_pick_the_models_sizes() {
        let s = Settings::default();
        let l = input(&s, "p".into(), None, None, None).unwrap();
        assert_eq!(
            (l.size.as_str(), l.model.as_str(), l.seconds),
            ("1280x720", "sora-2", 4)
        );
        let p = input(
            &s,
            "p".into(),
            Some("portrait".into()),
            Some("hd".into()),
            None,
        )
        .unwrap();
        assert_eq!((p.size.as_str(), p.quality.as_str()), ("720x1280", "hd"));
        assert!(input(&s, " ".into(), None, None, None).is_err());
        assert!(input(&s, "p".into(), Some("square".into()), None, None).is_err());
        assert!(input(&s, "p".into(), None, Some("4k".into()), None).is_err());
        assert!(input(&s, "p".into(), None, None, Some("ftp://x".into())).is_err());
    }
}
