//! `/api/admin/showcase/videos…` (admin only): list (inactive included), create, update
//! (`active: false` deactivates), delete, reorder, and promote a user's completed task. Hero
//! videos and trial images are in [`super::showcase_items`]. Every route answers 403
//! `forbidden` to a signed-in non-admin (a malformed body may be refused first, with 4xx).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::Value;

use super::extract::{ApiJson, ApiQuery};
use super::showcase::service;
use super::showcase_bodies::{PromoteBody, ReorderBody, VideoBody};
use super::showcase_items::{changed, PageQuery};
use super::tasks::paging;
use crate::auth::AuthUser;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ShowcaseKind;
use crate::wire::{Envelope, ErrorEnvelope, Paged, ShowcaseChanged, ShowcaseVideoView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/showcase/videos", get(list).post(create))
        .route("/api/admin/showcase/videos/reorder", post(reorder))
        .route(
            "/api/admin/showcase/videos/{id}",
            patch(update).delete(delete),
        )
        .route(
            "/api/admin/showcase/videos/from-task/{video_id}",
            post(promote),
        )
        .merge(super::showcase_items::router())
}

/// Admin: every showcase video, inactive ones included, in display order.
#[utoipa::path(get, path = "/api/admin/showcase/videos", tag = "admin", params(PageQuery),
    responses(
        (status = 200, description = "One page of videos", body = Envelope<Paged<ShowcaseVideoView>>),
        (status = 400, description = "page or pageSize out of range", body = ErrorEnvelope),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
    ))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let s = service(&state);
    let (items, total) = s.admin(&user).await?.videos(page, page_size).await?;
    let urls = state.video.media.urls();
    Ok(ok(Paged {
        items: items
            .iter()
            .map(|v| ShowcaseVideoView::new(v, urls))
            .collect(),
        total,
        page,
        page_size,
    }))
}

/// Admin: add a showcase video.
#[utoipa::path(post, path = "/api/admin/showcase/videos", tag = "admin", request_body = VideoBody,
    responses(
        (status = 201, description = "The new video", body = Envelope<ShowcaseVideoView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: `error.fields` names each missing or bad field", body = ErrorEnvelope),
    ))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<VideoBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let s = service(&state);
    let v = s.admin(&user).await?.create_video(body.into()).await?;
    let view = ShowcaseVideoView::new(&v, state.video.media.urls());
    Ok((StatusCode::CREATED, ok(view)))
}

/// Admin: change the given fields of a showcase video (`active: false` deactivates it).
#[utoipa::path(patch, path = "/api/admin/showcase/videos/{id}", tag = "admin", request_body = VideoBody,
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "The changed video", body = Envelope<ShowcaseVideoView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such video", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: a bad field, or none given", body = ErrorEnvelope),
    ))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VideoBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    let v = s.admin(&user).await?.update_video(&id, body.into()).await?;
    Ok(ok(ShowcaseVideoView::new(&v, state.video.media.urls())))
}

/// Admin: delete a showcase video (a promoted one's copied files too).
#[utoipa::path(delete, path = "/api/admin/showcase/videos/{id}", tag = "admin",
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such video", body = ErrorEnvelope),
    ))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .delete(ShowcaseKind::Video, &id)
        .await?;
    Ok(ok(changed(vec![id], "deleted")))
}

/// Admin: put the listed videos first, in this order (all or nothing).
#[utoipa::path(post, path = "/api/admin/showcase/videos/reorder", tag = "admin", request_body = ReorderBody,
    responses(
        (status = 200, description = "Reordered", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "an id is unknown; nothing changed", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: no ids, too many, or one listed twice", body = ErrorEnvelope),
    ))]
async fn reorder(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ReorderBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .reorder(ShowcaseKind::Video, &body.ids)
        .await?;
    Ok(ok(changed(body.ids, "reordered")))
}

/// Admin: put a user's completed task into the showcase (its files are copied, so the
/// video stays when the task is deleted). The body is optional.
#[utoipa::path(post, path = "/api/admin/showcase/videos/from-task/{videoId}", tag = "admin",
    request_body(content = Option<PromoteBody>, content_type = "application/json"),
    params(("videoId" = String, Path, description = "the task's `video_<uuid>`")),
    responses(
        (status = 201, description = "The new showcase video", body = Envelope<ShowcaseVideoView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such task", body = ErrorEnvelope),
        (status = 409, description = "the task is not completed, has no video, or is already in the showcase", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: a bad field", body = ErrorEnvelope),
    ))]
async fn promote(
    State(state): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let s = service(&state);
    let admin = s.admin(&user).await?;
    let body: PromoteBody = if body.iter().all(u8::is_ascii_whitespace) {
        PromoteBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            let text = e.to_string();
            match text
                .split_once("unknown field `")
                .and_then(|(_, r)| r.split_once('`'))
            {
                Some((name, _)) => crate::error::unknown_field(name),
                None if e.is_syntax() || e.is_eof() => {
                    ApiError::BadRequest("malformed JSON body".into())
                }
                None => ApiError::field("body", text),
            }
        })?
    };
    let v = admin.promote(&video_id, body.into()).await?;
    let view = ShowcaseVideoView::new(&v, state.video.media.urls());
    Ok((StatusCode::CREATED, ok(view)))
}
