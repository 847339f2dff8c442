//! `/api/admin/showcase/hero-videos…` and `/api/admin/showcase/trial-images…` (admin only):
//! list (inactive included), create, update (`active: false` deactivates), delete, reorder.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::extract::{ApiJson, ApiQuery};
use super::showcase::service;
use super::showcase_bodies::{HeroBody, ReorderBody, TrialBody};
use super::tasks::paging;
use crate::auth::AuthUser;
use crate::error::{ok, ApiResult};
use crate::state::AppState;
use crate::store::{HeroVideo, ShowcaseKind, TrialImage};
use crate::wire::{Envelope, ErrorEnvelope, HeroVideoView, Paged, ShowcaseChanged, TrialImageView};

const HERO: &str = "/api/admin/showcase/hero-videos";
const TRIAL: &str = "/api/admin/showcase/trial-images";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(HERO, get(list_heroes).post(create_hero))
        .route(&format!("{HERO}/reorder"), post(reorder_heroes))
        .route(
            &format!("{HERO}/{{id}}"),
            patch(update_hero).delete(delete_hero),
        )
        .route(TRIAL, get(list_trials).post(create_trial))
        .route(&format!("{TRIAL}/reorder"), post(reorder_trials))
        .route(
            &format!("{TRIAL}/{{id}}"),
            patch(update_trial).delete(delete_trial),
        )
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    pub(super) page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub(super) page_size: Option<String>,
}

pub(super) fn changed(ids: Vec<String>, action: &str) -> ShowcaseChanged {
    ShowcaseChanged {
        ids,
        action: action.into(),
    }
}

/// Admin: every hero video, inactive ones included, in display order.
#[utoipa::path(get, path = "/api/admin/showcase/hero-videos", tag = "admin", params(PageQuery),
    responses(
        (status = 200, description = "One page of hero videos", body = Envelope<Paged<HeroVideoView>>),
        (status = 400, description = "page or pageSize out of range", body = ErrorEnvelope),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
    ))]
async fn list_heroes(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let s = service(&state);
    let admin = s.admin(&user).await?;
    let (items, total) = admin
        .items::<HeroVideo>(ShowcaseKind::Hero, page, page_size)
        .await?;
    let urls = state.video.media.urls();
    let items = items.iter().map(|h| HeroVideoView::new(h, urls)).collect();
    Ok(ok(Paged {
        items,
        total,
        page,
        page_size,
    }))
}

/// Admin: add a hero video.
#[utoipa::path(post, path = "/api/admin/showcase/hero-videos", tag = "admin", request_body = HeroBody,
    responses(
        (status = 201, description = "The new hero video", body = Envelope<HeroVideoView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: `error.fields` names each missing or bad field", body = ErrorEnvelope),
    ))]
async fn create_hero(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<HeroBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let s = service(&state);
    let h = s.admin(&user).await?.create_hero(body.into()).await?;
    let view = HeroVideoView::new(&h, state.video.media.urls());
    Ok((StatusCode::CREATED, ok(view)))
}

/// Admin: change the given fields of a hero video (`active: false` deactivates it).
#[utoipa::path(patch, path = "/api/admin/showcase/hero-videos/{id}", tag = "admin", request_body = HeroBody,
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "The changed hero video", body = Envelope<HeroVideoView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such hero video", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: a bad field, or none given", body = ErrorEnvelope),
    ))]
async fn update_hero(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HeroBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    let admin = s.admin(&user).await?;
    let h: HeroVideo = admin
        .update_item(ShowcaseKind::Hero, &id, body.into())
        .await?;
    Ok(ok(HeroVideoView::new(&h, state.video.media.urls())))
}

/// Admin: delete a hero video.
#[utoipa::path(delete, path = "/api/admin/showcase/hero-videos/{id}", tag = "admin",
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such hero video", body = ErrorEnvelope),
    ))]
async fn delete_hero(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .delete(ShowcaseKind::Hero, &id)
        .await?;
    Ok(ok(changed(vec![id], "deleted")))
}

/// Admin: put the listed hero videos first, in this order (all or nothing).
#[utoipa::path(post, path = "/api/admin/showcase/hero-videos/reorder", tag = "admin", request_body = ReorderBody,
    responses(
        (status = 200, description = "Reordered", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "an id is unknown; nothing changed", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: no ids, too many, or one listed twice", body = ErrorEnvelope),
    ))]
async fn reorder_heroes(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ReorderBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .reorder(ShowcaseKind::Hero, &body.ids)
        .await?;
    Ok(ok(changed(body.ids, "reordered")))
}

/// Admin: every trial image, inactive ones included, in display order.
#[utoipa::path(get, path = "/api/admin/showcase/trial-images", tag = "admin", params(PageQuery),
    responses(
        (status = 200, description = "One page of trial images", body = Envelope<Paged<TrialImageView>>),
        (status = 400, description = "page or pageSize out of range", body = ErrorEnvelope),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
    ))]
async fn list_trials(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let s = service(&state);
    let admin = s.admin(&user).await?;
    let (items, total) = admin
        .items::<TrialImage>(ShowcaseKind::Trial, page, page_size)
        .await?;
    let urls = state.video.media.urls();
    let items = items.iter().map(|t| TrialImageView::new(t, urls)).collect();
    Ok(ok(Paged {
        items,
        total,
        page,
        page_size,
    }))
}

/// Admin: add a trial image.
#[utoipa::path(post, path = "/api/admin/showcase/trial-images", tag = "admin", request_body = TrialBody,
    responses(
        (status = 201, description = "The new trial image", body = Envelope<TrialImageView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: `error.fields` names each missing or bad field", body = ErrorEnvelope),
    ))]
async fn create_trial(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<TrialBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let s = service(&state);
    let t = s.admin(&user).await?.create_trial(body.into()).await?;
    let view = TrialImageView::new(&t, state.video.media.urls());
    Ok((StatusCode::CREATED, ok(view)))
}

/// Admin: change the given fields of a trial image (`active: false` deactivates it).
#[utoipa::path(patch, path = "/api/admin/showcase/trial-images/{id}", tag = "admin", request_body = TrialBody,
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "The changed trial image", body = Envelope<TrialImageView>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such trial image", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: a bad field, or none given", body = ErrorEnvelope),
    ))]
async fn update_trial(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TrialBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    let admin = s.admin(&user).await?;
    let t: TrialImage = admin
        .update_item(ShowcaseKind::Trial, &id, body.into())
        .await?;
    Ok(ok(TrialImageView::new(&t, state.video.media.urls())))
}

/// Admin: delete a trial image.
#[utoipa::path(delete, path = "/api/admin/showcase/trial-images/{id}", tag = "admin",
    params(("id" = String, Path, description = "`sc_` and a UUID")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "no such trial image", body = ErrorEnvelope),
    ))]
async fn delete_trial(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .delete(ShowcaseKind::Trial, &id)
        .await?;
    Ok(ok(changed(vec![id], "deleted")))
}

/// Admin: put the listed trial images first, in this order (all or nothing).
#[utoipa::path(post, path = "/api/admin/showcase/trial-images/reorder", tag = "admin", request_body = ReorderBody,
    responses(
        (status = 200, description = "Reordered", body = Envelope<ShowcaseChanged>),
        (status = 403, description = "not an admin", body = ErrorEnvelope),
        (status = 404, description = "an id is unknown; nothing changed", body = ErrorEnvelope),
        (status = 422, description = "`validationFailed`: no ids, too many, or one listed twice", body = ErrorEnvelope),
    ))]
async fn reorder_trials(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ReorderBody>,
) -> ApiResult<Json<Value>> {
    let s = service(&state);
    s.admin(&user)
        .await?
        .reorder(ShowcaseKind::Trial, &body.ids)
        .await?;
    Ok(ok(changed(body.ids, "reordered")))
}

/// The showcase operations for the OpenAPI document (merged in `docs::document`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        super::showcase::videos,
        super::showcase::video,
        super::showcase::featured,
        super::showcase::hero_videos,
        super::showcase::trial_images,
        super::showcase::asset,
        super::showcase_admin::list,
        super::showcase_admin::create,
        super::showcase_admin::update,
        super::showcase_admin::delete,
        super::showcase_admin::reorder,
        super::showcase_admin::promote,
        list_heroes,
        create_hero,
        update_hero,
        delete_hero,
        reorder_heroes,
        list_trials,
        create_trial,
        update_trial,
        delete_trial,
        reorder_trials,
    ),
    tags((name = "showcase", description = "The public showcase (home page videos, hero videos, trial images)"))
)]
pub(super) struct ShowcaseDoc;
