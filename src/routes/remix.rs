//! `POST /api/video/tasks/{videoId}/remix {prompt}`: a new task that remixes a completed one
//! through its provider's remix endpoint, charged like a new task
//! (`TaskContext::remix` decides; this parses and shapes).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::ApiJson;
use super::task_input::validate_prompt;
use super::tasks::VideoId;
use crate::auth::AuthUser;
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::wire::{Envelope, ErrorEnvelope, TaskView};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/video/tasks/{video_id}/remix", post(remix))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemixBody {
    /// What to change; the same rules as a new task's prompt.
    #[schema(min_length = 1, max_length = 32000)]
    prompt: Option<String>,
}

/// Remix a completed video with a new prompt (a new task of kind `remix`).
#[utoipa::path(post, path = "/api/video/tasks/{videoId}/remix", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    request_body = RemixBody,
    responses(
        (status = 201, description = "The new task", body = Envelope<TaskView>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 402, description = "`insufficientCredits`", body = ErrorEnvelope),
        (status = 403, description = "`subscriptionRequired` or `subscriptionExpired`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
        (status = 409, description = "`notRemixable`: the task is not a completed video", body = ErrorEnvelope),
        (status = 422, description = "a blank or too long prompt, or an unknown field", body = ErrorEnvelope),
    ))]
pub(super) async fn remix(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RemixBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = VideoId::parse(id)?;
    let prompt = validate_prompt(body.prompt, &state.settings)?;
    let task = state.tasks.remix(&user, &id.0, prompt).await?;
    let view = TaskView::new(&task, state.store.media_urls());
    Ok((StatusCode::CREATED, ok(view)))
}
