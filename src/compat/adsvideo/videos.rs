//! `/api/v1/videos`: generate (a taskhub task), list, get, delete, retry, and the models.
//! A video's integer id is its task's alias (`compat::ids`); the task use cases decide
//! everything (plan, price, ownership, states).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::dto::{DetailBody, ModelOut, ModelsOut, VideoListOut, VideoOut, VideoStatus};
use super::{int_param, user_number};
use crate::auth::AuthUser;
use crate::compat::detail::{DJson, DQuery, DUser, Detail, DetailResult};
use crate::compat::ids::{self, Kind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Task;

mod input;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/videos/generate", post(generate))
        .route("/videos", get(list))
        .route("/videos/models/list", get(models))
        .route("/videos/{video_id}", get(get_one).delete(delete))
        .route("/videos/{video_id}/retry", post(retry))
}

/// The videos of one user as this API shows them (integer ids numbered in one go).
async fn videos_out(
    state: &AppState,
    user: &AuthUser,
    tasks: &[Task],
) -> DetailResult<Vec<VideoOut>> {
    let user_id = user_number(state, &user.id).await?;
    let native: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    let nums = ids::numbers(&state.store, Kind::Task, &native).await?;
    let urls = state.store.media_urls();
    Ok(tasks
        .iter()
        .zip(nums)
        .map(|(t, n)| VideoOut::new(n, user_id, t, urls))
        .collect())
}

async fn video_out(state: &AppState, user: &AuthUser, task: &Task) -> DetailResult<VideoOut> {
    let mut one = videos_out(state, user, std::slice::from_ref(task)).await?;
    one.pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no video for a task")).into())
}

/// The caller's task numbered `raw` (someone else's, or none, is 404 alike).
async fn user_task(state: &AppState, user: &AuthUser, raw: &str) -> DetailResult<Task> {
    let num: i64 = raw.parse().map_err(|_| {
        Detail::field(
            "path",
            "video_id",
            "value is not a valid integer",
            "type_error.integer",
        )
    })?;
    let missing = || Detail::not_found(format!("Video with id {num} not found"));
    let Some(native) = ids::native(&state.store, Kind::Task, num).await? else {
        return Err(missing());
    };
    match state.tasks.user_task(user, &native).await {
        Ok(t) => Ok(t),
        Err(ApiError::NotFound(_)) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AdsVideoGenerate)]
pub(super) struct GenerateBody {
    /// Not blank, at most the server's `TASKHUB_MAX_PROMPT_CHARS` characters.
    #[schema(min_length = 1)]
    prompt: String,
    /// Default `sora-2`; one of `GET /api/v1/videos/models/list`.
    model: Option<String>,
    /// The `file_path` an upload returned, or an http(s) URL fetched once at creation.
    #[schema(max_length = 2048)]
    reference_image_url: Option<String>,
}

/// Create a video generation task (its credits are charged now, refunded if it fails).
#[utoipa::path(post, path = "/api/v1/videos/generate", tag = "AdsVideo v1",
    request_body = GenerateBody,
    responses(
        (status = 201, description = "The new video, pending", body = VideoOut),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 402, description = "not enough credits", body = DetailBody),
        (status = 403, description = "the plan does not allow generating, or it has expired", body = DetailBody),
        (status = 422, description = "a bad field, a model this server cannot run, or a reference image that could not be fetched", body = DetailBody),
    ))]
pub(super) async fn generate(
    State(state): State<AppState>,
    DUser(user): DUser,
    DJson(body): DJson<GenerateBody>,
) -> DetailResult<(StatusCode, Json<VideoOut>)> {
    let input = input::task_input(
        &state,
        &user,
        body.prompt,
        body.model,
        body.reference_image_url,
    )
    .await?;
    let task = state
        .tasks
        .create(&user, input, None)
        .await
        .map_err(input::native_fields)?;
    Ok((
        StatusCode::CREATED,
        Json(video_out(&state, &user, &task).await?),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20, at most 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only videos in this status (`failed` includes cancelled tasks).
    #[param(value_type = Option<String>, pattern = "^(pending|processing|completed|failed)?$")]
    status_filter: Option<String>,
}

/// The user's videos, newest first.
#[utoipa::path(get, path = "/api/v1/videos", tag = "AdsVideo v1", params(ListQuery),
    responses(
        (status = 200, description = "One page of videos", body = VideoListOut),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 422, description = "page, page_size or status_filter out of range", body = DetailBody),
    ))]
pub(super) async fn list(
    State(state): State<AppState>,
    DUser(user): DUser,
    DQuery(q): DQuery<ListQuery>,
) -> DetailResult<Json<VideoListOut>> {
    let page = int_param("page", q.page.as_deref(), 1, 1, 1_000_000)?;
    let page_size = int_param("page_size", q.page_size.as_deref(), 20, 1, 100)?;
    let statuses = match q.status_filter.as_deref().filter(|s| !s.is_empty()) {
        None => &[][..],
        Some(s) => VideoStatus::parse(s)
            .ok_or_else(|| {
                let msg = "one of pending, processing, completed, failed";
                Detail::field("query", "status_filter", msg, "type_error.enum")
            })?
            .native(),
    };
    let (tasks, total) = state
        .store
        .list_user_tasks_in(&user.id, statuses, page, page_size)
        .await?;
    Ok(Json(VideoListOut {
        videos: videos_out(&state, &user, &tasks).await?,
        total,
        page,
        page_size,
    }))
}

const VIDEO_ID: &str = "The video's integer id";

/// One video.
#[utoipa::path(get, path = "/api/v1/videos/{video_id}", tag = "AdsVideo v1",
    params(("video_id" = i64, Path, description = VIDEO_ID)),
    responses(
        (status = 200, description = "The video", body = VideoOut),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 404, description = "no such video of this user", body = DetailBody),
        (status = 422, description = "not an integer", body = DetailBody),
    ))]
pub(super) async fn get_one(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<Json<VideoOut>> {
    let task = user_task(&state, &user, &id).await?;
    Ok(Json(video_out(&state, &user, &task).await?))
}

/// Delete a finished video (with its files). A video still generating is 409.
#[utoipa::path(delete, path = "/api/v1/videos/{video_id}", tag = "AdsVideo v1",
    params(("video_id" = i64, Path, description = VIDEO_ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 404, description = "no such video of this user", body = DetailBody),
        (status = 409, description = "the video is still pending or processing", body = DetailBody),
        (status = 422, description = "not an integer", body = DetailBody),
    ))]
pub(super) async fn delete(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<StatusCode> {
    let task = user_task(&state, &user, &id).await?;
    state.tasks.delete(&user, &task.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retry a failed video: a new video (new id) with the same parameters, charged anew.
#[utoipa::path(post, path = "/api/v1/videos/{video_id}/retry", tag = "AdsVideo v1",
    params(("video_id" = i64, Path, description = VIDEO_ID)),
    responses(
        (status = 200, description = "The new video, pending", body = VideoOut),
        (status = 400, description = "the video has not failed (or its image is gone)", body = DetailBody),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 402, description = "not enough credits", body = DetailBody),
        (status = 403, description = "the plan does not allow generating, or it has expired", body = DetailBody),
        (status = 404, description = "no such video of this user", body = DetailBody),
        (status = 422, description = "not an integer, or the reference image could not be fetched again", body = DetailBody),
    ))]
pub(super) async fn retry(
    State(state): State<AppState>,
    DUser(user): DUser,
    Path(id): Path<String>,
) -> DetailResult<Json<VideoOut>> {
    let old = user_task(&state, &user, &id).await?;
    let task = match state.tasks.retry(&user, &old.id).await {
        Ok(t) => t,
        // The reference answers 400 where taskhub says 409 (not failed, image gone).
        Err(ApiError::Conflict(m)) => return Err(Detail::bad_request(m)),
        Err(e) => return Err(e.into()),
    };
    Ok(Json(video_out(&state, &user, &task).await?))
}

/// The models this server runs (its `TASKHUB_MODELS`), in this API's shape.
#[utoipa::path(get, path = "/api/v1/videos/models/list", tag = "AdsVideo v1", security(()),
    responses((status = 200, description = "The models", body = ModelsOut)))]
pub(super) async fn models(State(state): State<AppState>) -> Json<ModelsOut> {
    let models = state
        .settings
        .models
        .iter()
        .map(|m| {
            let (name, version, description) = input::model_card(&m.id);
            ModelOut {
                id: m.id.clone(),
                name,
                version,
                description,
            }
        })
        .collect();
    Json(ModelsOut { models })
}
