//! `/api/showcase/…`: the public showcase (no sign-in): videos with paging and filters,
//! featured videos, hero videos, trial images, one video (its view counted); and the demo
//! files shipped in the binary at `/assets/showcase/{file}`. The admin side is in
//! [`super::showcase_admin`].

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::extract::ApiQuery;
use super::tasks::{paging, parse_range};
use crate::error::{ok, ApiError, ApiResult};
use crate::http::viewer::ViewerOf;
use crate::showcase::{seed, Showcase};
use crate::state::AppState;
use crate::store::{HeroVideo, ShowcaseKind, TrialImage};
use crate::wire::{
    Envelope, ErrorEnvelope, HeroVideoView, ItemsView, Paged, ShowcaseVideoView, TrialImageView,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/showcase/videos", get(videos))
        .route("/api/showcase/videos/{id}", get(video))
        .route("/api/showcase/featured", get(featured))
        .route("/api/showcase/hero-videos", get(hero_videos))
        .route("/api/showcase/trial-images", get(trial_images))
        .route(&format!("{}/{{file}}", seed::ASSET_ROUTE), get(asset))
        .merge(super::showcase_admin::router())
}

/// The showcase service over this state's store and media.
pub(super) fn service(state: &AppState) -> Showcase<'_> {
    Showcase::new(&state.store, &state.video.media, &state.settings.jwt_secret)
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct VideosQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only this category (exact match); empty means all.
    #[param(value_type = Option<String>, max_length = 40)]
    category: Option<String>,
    /// `true`: only featured videos; `false` or empty: all.
    #[param(value_type = Option<String>, pattern = "^(true|false)?$")]
    featured: Option<String>,
}

/// Active showcase videos in display order (`order`, then age).
#[utoipa::path(get, path = "/api/showcase/videos", tag = "showcase", security(()), params(VideosQuery),
    responses(
        (status = 200, description = "One page of videos", body = Envelope<Paged<ShowcaseVideoView>>),
        (status = 400, description = "page, pageSize, category or featured out of range", body = ErrorEnvelope),
    ))]
async fn videos(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<VideosQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let category = q.category.as_deref().filter(|c| !c.is_empty());
    if category.is_some_and(|c| c.chars().count() > crate::showcase::input::CATEGORY_MAX) {
        return Err(ApiError::BadRequest(
            "category must be at most 40 characters".into(),
        ));
    }
    let featured = match q.featured.as_deref().unwrap_or("") {
        "" | "false" => false,
        "true" => true,
        _ => {
            return Err(ApiError::BadRequest(
                "featured must be true or false".into(),
            ))
        }
    };
    let (items, total) = service(&state)
        .videos(category, featured, page, page_size)
        .await?;
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

/// One active video; counts a view (once per viewer and clock hour).
#[utoipa::path(get, path = "/api/showcase/videos/{id}", tag = "showcase", security(()),
    params(("id" = String, Path, description = "`sc_` and a UUID; anything else is 404")),
    responses(
        (status = 200, description = "The video, `viewCount` including this view", body = Envelope<ShowcaseVideoView>),
        (status = 404, description = "no such active video", body = ErrorEnvelope),
    ))]
async fn video(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ViewerOf(viewer): ViewerOf,
) -> ApiResult<Json<Value>> {
    let v = service(&state).view(&id, &viewer).await?;
    Ok(ok(ShowcaseVideoView::new(&v, state.video.media.urls())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FeaturedQuery {
    /// Default 6.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 20)]
    limit: Option<String>,
}

/// The first featured videos in display order.
#[utoipa::path(get, path = "/api/showcase/featured", tag = "showcase", security(()), params(FeaturedQuery),
    responses(
        (status = 200, description = "Featured videos", body = Envelope<ItemsView<ShowcaseVideoView>>),
        (status = 400, description = "limit out of range", body = ErrorEnvelope),
    ))]
async fn featured(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FeaturedQuery>,
) -> ApiResult<Json<Value>> {
    let limit = parse_range("limit", q.limit.as_deref(), 6, 1, 20)?;
    let (items, _) = service(&state).videos(None, true, 1, limit).await?;
    let urls = state.video.media.urls();
    Ok(ok(ItemsView {
        items: items
            .iter()
            .map(|v| ShowcaseVideoView::new(v, urls))
            .collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HeroQuery {
    /// Default 3.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 10)]
    limit: Option<String>,
}

/// The first active hero (carousel) videos in display order.
#[utoipa::path(get, path = "/api/showcase/hero-videos", tag = "showcase", security(()), params(HeroQuery),
    responses(
        (status = 200, description = "Hero videos", body = Envelope<ItemsView<HeroVideoView>>),
        (status = 400, description = "limit out of range", body = ErrorEnvelope),
    ))]
async fn hero_videos(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HeroQuery>,
) -> ApiResult<Json<Value>> {
    let limit = parse_range("limit", q.limit.as_deref(), 3, 1, 10)?;
    let (items, _) = service(&state)
        .items::<HeroVideo>(ShowcaseKind::Hero, 1, limit)
        .await?;
    let urls = state.video.media.urls();
    Ok(ok(ItemsView {
        items: items.iter().map(|h| HeroVideoView::new(h, urls)).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
}

/// Active trial images in display order.
#[utoipa::path(get, path = "/api/showcase/trial-images", tag = "showcase", security(()), params(PageQuery),
    responses(
        (status = 200, description = "One page of trial images", body = Envelope<Paged<TrialImageView>>),
        (status = 400, description = "page or pageSize out of range", body = ErrorEnvelope),
    ))]
async fn trial_images(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (page, page_size) = paging(q.page.as_deref(), q.page_size.as_deref())?;
    let (items, total) = service(&state)
        .items::<TrialImage>(ShowcaseKind::Trial, page, page_size)
        .await?;
    let urls = state.video.media.urls();
    Ok(ok(Paged {
        items: items.iter().map(|t| TrialImageView::new(t, urls)).collect(),
        total,
        page,
        page_size,
    }))
}

/// A demo file shipped in the binary (posters, trial images, the sample video); Range
/// requests get 206.
#[utoipa::path(get, path = "/assets/showcase/{file}", tag = "showcase", security(()),
    params(("file" = String, Path, description = "a shipped file, like `sample.mp4` or `poster-product.png`")),
    responses(
        (status = 200, description = "The file", content((Vec<u8> = "video/mp4"), (Vec<u8> = "image/png"))),
        (status = 206, description = "The requested range", content((Vec<u8> = "video/mp4"), (Vec<u8> = "image/png"))),
        (status = 404, description = "no such file", body = ErrorEnvelope),
        (status = 416, description = "the range is outside the file"),
    ))]
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((bytes, content_type)) = seed::asset(&file) else {
        return ApiError::not_found("asset").into_response();
    };
    let mut resp = crate::providers::simulator::ranged(bytes, content_type, &headers);
    // The files are compiled in: they change only with a release.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}
