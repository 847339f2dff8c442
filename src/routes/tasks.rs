//! `/api/video`: create, list, get, events, cancel, retry, delete, content, stats, models.

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::ApiQuery;
use super::task_input;
use crate::auth::AuthUser;
use crate::domain::TaskStatus;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::Task;

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
struct VideoId(String);

impl VideoId {
    fn parse(raw: String) -> ApiResult<Self> {
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

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input = task_input::read(req, &state.settings).await?;
    let task = state.tasks.create(&user, input, None).await?;
    Ok((StatusCode::CREATED, ok(state.store.task_json(&task))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page: Option<String>,
    page_size: Option<String>,
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
    let items: Vec<Value> = items.iter().map(|t| state.store.task_json(t)).collect();
    Ok(ok(
        json!({ "items": items, "total": total, "page": page, "pageSize": page_size }),
    ))
}

async fn user_task(state: &AppState, user: &AuthUser, raw: String) -> ApiResult<Task> {
    let id = VideoId::parse(raw)?;
    state.tasks.user_task(user, &id.0).await
}

async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = user_task(&state, &user, id).await?;
    Ok(ok(state.store.task_json(&task)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    since_seq: Option<String>,
    limit: Option<String>,
}

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
    let frames: Vec<_> = events.iter().map(|e| e.envelope()).collect();
    Ok(ok(
        json!({ "videoId": task.id, "seq": task.seq, "events": frames }),
    ))
}

async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = VideoId::parse(id)?;
    let task = state.tasks.cancel(&user, &id.0).await?;
    Ok(ok(state.store.task_json(&task)))
}

/// Retrying repeats the failed task as it was: a body (say `{"quality":"hd"}`) would not be
/// honoured, so one with fields is refused rather than charged for as something else.
async fn retry(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    let task = state.tasks.retry(&user, &id.0).await?;
    Ok((StatusCode::CREATED, ok(state.store.task_json(&task))))
}

async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = VideoId::parse(id)?;
    state.tasks.delete(&user, &id.0).await?;
    Ok(ok(json!({ "videoId": id.0, "deleted": true })))
}

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
    Ok(ok(json!({
        "videoId": task.id,
        "externalVideoId": task.external_id,
        "copied": crate::media::MediaUrls::key_of(&url).is_some(),
        "url": urls.present(&url),
        "thumbnailUrl": task.thumbnail_url.as_deref().map(|t| urls.present(t)),
    })))
}

async fn stats(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    Ok(ok(state.store.user_task_stats(&user.id).await?))
}

/// Models with what they allow and cost (credits per task by kind and quality).
async fn models(State(state): State<AppState>) -> Json<Value> {
    let prices = state.settings.billing.prices_json();
    let models: Vec<Value> = state
        .settings
        .models
        .iter()
        .map(|m| {
            let mut v = json!(m);
            v["prices"] = prices.clone();
            v
        })
        .collect();
    ok(
        json!({ "models": models, "prices": prices, "qualities": ["standard", "hd"], "unit": "credits" }),
    )
}
