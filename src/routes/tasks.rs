//! `/api/video`: create, list, get, events, cancel, retry, delete, content, stats, models.

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::extract::ApiQuery;
use super::task_input;
use crate::auth::AuthUser;
use crate::domain::TaskStatus;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Task;
use crate::tasks::idempotency;
use crate::wire::{
    Envelope, ErrorEnvelope, EventFrame, ModelView, ModelsView, Paged, PriceTable, TaskContent,
    TaskDeleted, TaskEvents, TaskStatsView, TaskView,
};

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/video/tasks",
            post(create)
                .layer(DefaultBodyLimit::max(max_upload_bytes + 64 * 1024))
                .get(list),
        )
        .route("/api/video/tasks/{video_id}", get(get_one).delete(delete))
        .route("/api/video/tasks/{video_id}/events", get(events))
        .route("/api/video/tasks/{video_id}/cancel", post(cancel))
        .route("/api/video/tasks/{video_id}/retry", post(retry))
        .route("/api/video/tasks/{video_id}/content", get(content))
        .route("/api/video/stats", get(stats))
        .route("/api/video/models", get(models))
}

/// A `videoId` from the path, checked for shape (`video_` + UUID) before any lookup.
pub(super) struct VideoId(pub(super) String);

impl VideoId {
    pub(super) fn parse(raw: String) -> ApiResult<Self> {
        if crate::domain::ids::is_video_id(&raw) {
            Ok(Self(raw))
        } else {
            Err(ApiError::BadRequest(format!(
                "invalid videoId '{}': expected video_<uuid>",
                raw.chars().take(80).collect::<String>()
            )))
        }
    }
}

/// Create a task: JSON (text-to-video) or multipart with an `image` part (image-to-video).
/// With an `Idempotency-Key`, a repeat of the same request returns the task it made (see
/// [`crate::tasks::idempotency`]).
#[utoipa::path(post, path = "/api/video/tasks", tag = "tasks",
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$", description = "1 to 255 visible ASCII characters, the caller's own (a UUID per task, say): sending the same request again with it returns the task it made the first time (charged once), with `Idempotent-Replayed: true`; the same key with a different request is `idempotencyKeyReused`. Bound to its task while the task exists.")),
    request_body(content(
        (task_input::CreateTaskBody = "application/json"),
        (task_input::CreateTaskMultipart = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "The task, queued; its credits are charged (or, for a repeat under the same `Idempotency-Key`, the task it made then, as it is now)", body = Envelope<TaskView>,
            headers(("Idempotent-Replayed" = String, description = "`true` when the answer is the task of an earlier request with the same key"))),
        (status = 400, description = "invalid multipart body, or an `Idempotency-Key` that is not 1 to 255 visible ASCII characters", body = ErrorEnvelope),
        (status = 402, description = "`insufficientCredits`", body = ErrorEnvelope),
        (status = 403, description = "`subscriptionRequired` or `subscriptionExpired`", body = ErrorEnvelope),
        (status = 413, description = "image or body too large", body = ErrorEnvelope),
        (status = 415, description = "neither JSON nor multipart", body = ErrorEnvelope),
        (status = 422, description = "`idempotencyKeyReused`: the `Idempotency-Key` made a task from a different request; or `validationFailed` (per field): also `referenceImageUrl` could not be fetched, `referenceImageUploadId` is not one of the caller's image uploads, or the image cannot be fitted to `size`", body = ErrorEnvelope),
    ))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    req: Request,
) -> ApiResult<Response> {
    let key = idempotency_key(req.headers())?;
    let task_input::ReadTask {
        mut input,
        upload_id,
    } = task_input::read(req, &state.settings).await?;
    let uploads = crate::uploads::Uploads::from(&state);
    uploads
        .resolve_reference(&user, &mut input, upload_id)
        .await?;
    let created = state.tasks.create_keyed(&user, input, None, key).await?;
    Ok(created_response(&state, &created))
}

/// The request's `Idempotency-Key`, checked (400 when malformed).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let raw = headers.get(idempotency::HEADER).map(|v| v.as_bytes());
    idempotency::parse_key(raw)
}

/// 201 with the task, marked `Idempotent-Replayed` when an earlier request made it.
fn created_response(state: &AppState, created: &idempotency::Created) -> Response {
    let view = TaskView::new(&created.task, state.store.media_urls());
    let mut res = (StatusCode::CREATED, ok(view)).into_response();
    if created.repeated {
        let replayed = HeaderValue::from_static("true");
        res.headers_mut()
            .insert(idempotency::REPLAYED_HEADER, replayed);
    }
    res
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only tasks in this status.
    #[param(value_type = Option<String>, pattern = "^(queued|processing|completed|failed|cancelled)?$")]
    status: Option<String>,
}

pub(super) fn parse_range(
    field: &str,
    raw: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> ApiResult<i64> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::BadRequest(format!(
            "{field} must be a whole number from {min} to {max}"
        ))),
    }
}

/// `page` (default 1) and `pageSize` (default 20, at most 100) of a paged list route.
pub(super) fn paging(page: Option<&str>, page_size: Option<&str>) -> ApiResult<(i64, i64)> {
    Ok((
        parse_range("page", page, 1, 1, 1_000_000)?,
        parse_range("pageSize", page_size, 20, 1, 100)?,
    ))
}

/// The user's tasks, newest first.
#[utoipa::path(get, path = "/api/video/tasks", tag = "tasks", params(ListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = Envelope<Paged<TaskView>>),
        (status = 400, description = "page, pageSize or status out of range", body = ErrorEnvelope),
    ))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(
                "status must be one of queued, processing, completed, failed, cancelled".into(),
            )
        })?),
    };
    let (items, total) = state
        .store
        .list_user_tasks(&user.id, status, page, page_size)
        .await?;
    let urls = state.store.media_urls();
    Ok(ok(Paged {
        items: items.iter().map(|t| TaskView::new(t, urls)).collect(),
        total,
        page,
        page_size,
    }))
}

async fn user_task(state: &AppState, user: &AuthUser, raw: String) -> ApiResult<Task> {
    let id = VideoId::parse(raw)?;
    state.tasks.user_task(user, &id.0).await
}

/// One task.
#[utoipa::path(get, path = "/api/video/tasks/{videoId}", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    responses(
        (status = 200, description = "The task", body = Envelope<TaskView>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
    ))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = user_task(&state, &user, id).await?;
    Ok(ok(TaskView::new(&task, state.store.media_urls())))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Events after this `seq` (default 0: all).
    #[param(value_type = Option<i64>, minimum = 0)]
    since_seq: Option<String>,
    /// At most this many (default 1000).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The task's event log after `sinceSeq` (the same frames as the WebSocket).
#[utoipa::path(get, path = "/api/video/tasks/{videoId}/events", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID"), EventsQuery),
    responses(
        (status = 200, description = "The frames, oldest first", body = Envelope<TaskEvents>),
        (status = 400, description = "not a `video_<uuid>`, or sinceSeq/limit out of range", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
    ))]
async fn events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let since = parse_range("sinceSeq", q.since_seq.as_deref(), 0, 0, i64::MAX)?;
    let limit = parse_range("limit", q.limit.as_deref(), 1000, 1, 1000)?;
    let task = user_task(&state, &user, id).await?;
    let events = state.store.events_since(&task.id, since, limit).await?;
    Ok(ok(TaskEvents {
        video_id: task.id,
        seq: task.seq,
        events: events.iter().map(EventFrame::from).collect(),
    }))
}

/// Cancel an open task; its credits are refunded.
#[utoipa::path(post, path = "/api/video/tasks/{videoId}/cancel", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    responses(
        (status = 200, description = "The cancelled task", body = Envelope<TaskView>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
        (status = 409, description = "the task is already finished", body = ErrorEnvelope),
    ))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = VideoId::parse(id)?;
    let task = state.tasks.cancel(&user, &id.0).await?;
    Ok(ok(TaskView::new(&task, state.store.media_urls())))
}

/// Retrying repeats the failed task as it was: a body (say `{"quality":"hd"}`) would not be
/// honoured, so one with fields is refused rather than charged for as something else.
#[utoipa::path(post, path = "/api/video/tasks/{videoId}/retry", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$", description = "as for creating a task: retrying the same task again with the same key returns the task the key made (`Idempotent-Replayed: true`); the key with another request is `idempotencyKeyReused`")),
    responses(
        (status = 201, description = "The new task (or, for a repeat under the same `Idempotency-Key`, the task it made then, as it is now)", body = Envelope<TaskView>,
            headers(("Idempotent-Replayed" = String, description = "`true` when the answer is the task of an earlier request with the same key"))),
        (status = 400, description = "not a `video_<uuid>`, or a malformed `Idempotency-Key`", body = ErrorEnvelope),
        (status = 402, description = "`insufficientCredits`", body = ErrorEnvelope),
        (status = 403, description = "`subscriptionRequired` or `subscriptionExpired`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
        (status = 409, description = "the task has not failed, or its image is gone", body = ErrorEnvelope),
        (status = 422, description = "a body with fields, or `idempotencyKeyReused`", body = ErrorEnvelope),
    ))]
async fn retry(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<serde_json::Map<String, Value>>(&body) {
            Ok(map) if map.is_empty() => {}
            Ok(map) => {
                return Err(crate::error::unknown_field(
                    map.keys().next().map_or("", |k| k),
                ))
            }
            Err(_) => return Err(ApiError::field("body", "retry takes no body")),
        }
    }
    let id = VideoId::parse(id)?;
    let created = state.tasks.retry_keyed(&user, &id.0, key).await?;
    Ok(created_response(&state, &created))
}

/// Delete a finished task and its events.
#[utoipa::path(delete, path = "/api/video/tasks/{videoId}", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<TaskDeleted>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
        (status = 409, description = "the task is still open", body = ErrorEnvelope),
    ))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = VideoId::parse(id)?;
    state.tasks.delete(&user, &id.0).await?;
    Ok(ok(TaskDeleted {
        video_id: id.0,
        deleted: true,
    }))
}

/// Where to play the finished video.
#[utoipa::path(get, path = "/api/video/tasks/{videoId}/content", tag = "tasks", params(("videoId" = String, Path, pattern = r"^video_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`video_` and a UUID")),
    responses(
        (status = 200, description = "Signed URLs of the video and thumbnail", body = Envelope<TaskContent>),
        (status = 400, description = "not a `video_<uuid>`", body = ErrorEnvelope),
        (status = 404, description = "no such task of this user", body = ErrorEnvelope),
        (status = 409, description = "the video is not ready", body = ErrorEnvelope),
    ))]
async fn content(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = user_task(&state, &user, id).await?;
    let Some(url) = task
        .video_url
        .clone()
        .filter(|_| task.status() == TaskStatus::Completed)
    else {
        return Err(ApiError::Conflict(format!(
            "the video is not ready: task is {}",
            task.status
        )));
    };
    let urls = state.video.media.urls();
    Ok(ok(TaskContent {
        video_id: task.id.clone(),
        external_video_id: task.external_id.clone(),
        copied: crate::media::MediaUrls::key_of(&url).is_some(),
        url: urls.present(&url),
        thumbnail_url: task.thumbnail_url.as_deref().map(|t| urls.present(t)),
    }))
}

/// The user's task counts by status and credits spent.
#[utoipa::path(get, path = "/api/video/stats", tag = "tasks",
    responses((status = 200, description = "Counts", body = Envelope<TaskStatsView>)))]
async fn stats(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    Ok(ok(state.store.user_task_stats(&user.id).await?))
}

/// Models with what they allow and cost (credits per task by kind and quality).
#[utoipa::path(get, path = "/api/video/models", tag = "tasks", security(()),
    responses((status = 200, description = "Models, qualities and prices", body = Envelope<ModelsView>)))]
async fn models(State(state): State<AppState>) -> Json<Value> {
    let b = &state.settings.billing;
    let prices = PriceTable::new(
        (b.price_text_standard, b.price_text_hd),
        (b.price_image_standard, b.price_image_hd),
    );
    let models = state
        .settings
        .models
        .iter()
        .map(|m| ModelView {
            id: m.id.clone(),
            seconds: m.seconds.clone(),
            sizes: m.sizes.clone(),
            prices: prices.clone(),
        })
        .collect();
    ok(ModelsView {
        models,
        prices,
        qualities: vec!["standard".into(), "hd".into()],
        unit: "credits".into(),
    })
}
