//! `/api/v1/showcase`: the public showcase (videos, featured, hero videos, trial images) from
//! the `showcase` service, with `skip`/`limit` and integer ids.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::{
    DetailBody, HeroVideoOut, HeroVideosOut, ShowcaseVideoOut, ShowcaseVideosOut, TrialImageOut,
    TrialImagesOut,
};
use super::int_param;
use crate::compat::detail::{DQuery, Detail, DetailResult};
use crate::compat::ids::{self, Kind};
use crate::showcase::Showcase;
use crate::state::AppState;
use crate::store::{HeroVideo, ShowcaseKind, ShowcaseVideo, TrialImage};

/// Largest `skip`: the showcase is a short, curated list; a page past this is empty anyway
/// and would only cost a long read.
pub const MAX_SKIP: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/showcase/videos", get(videos))
        .route("/showcase/featured", get(featured))
        .route("/showcase/hero-videos", get(hero_videos))
        .route("/showcase/trial-images", get(trial_images))
}

fn service(state: &AppState) -> Showcase<'_> {
    Showcase::new(&state.store, &state.video.media, &state.settings.jwt_secret)
}

/// `skip` rows then `limit` rows out of the service's pages: one page of `skip + limit`
/// (bounded by [`MAX_SKIP`]), its first `skip` dropped.
fn window<T>(mut rows: Vec<T>, skip: i64) -> Vec<T> {
    let skip = (skip.max(0) as usize).min(rows.len());
    rows.drain(..skip);
    rows
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct VideosQuery {
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000)]
    skip: Option<String>,
    /// Default 6, at most 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 50)]
    limit: Option<String>,
    /// Only this category (exact match), e.g. `Product`, `F&B`.
    #[param(value_type = Option<String>, max_length = 40)]
    category: Option<String>,
    /// `true`: featured videos only. Default false.
    #[param(value_type = Option<bool>)]
    featured: Option<String>,
}

/// Showcase videos in display order.
#[utoipa::path(get, path = "/api/v1/showcase/videos", tag = "AdsVideo v1", security(()), params(VideosQuery),
    responses(
        (status = 200, description = "The videos and how many match", body = ShowcaseVideosOut),
        (status = 422, description = "skip, limit, category or featured out of range", body = DetailBody),
    ))]
pub(super) async fn videos(
    State(state): State<AppState>,
    DQuery(q): DQuery<VideosQuery>,
) -> DetailResult<Json<ShowcaseVideosOut>> {
    let skip = int_param("skip", q.skip.as_deref(), 0, 0, MAX_SKIP)?;
    let limit = int_param("limit", q.limit.as_deref(), 6, 1, 50)?;
    let category = q.category.as_deref().filter(|c| !c.is_empty());
    if category.is_some_and(|c| c.chars().count() > crate::showcase::input::CATEGORY_MAX) {
        let msg = "at most 40 characters";
        return Err(Detail::field("query", "category", msg, "value_error"));
    }
    let featured = match q.featured.as_deref().unwrap_or("") {
        "" | "false" | "False" | "0" => false,
        "true" | "True" | "1" => true,
        _ => {
            let msg = "value could not be parsed to a boolean";
            return Err(Detail::field("query", "featured", msg, "type_error.bool"));
        }
    };
    let (rows, total) = service(&state)
        .videos(category, featured, 1, skip + limit)
        .await?;
    let videos = showcase_videos(&state, window(rows, skip)).await?;
    Ok(Json(ShowcaseVideosOut { videos, total }))
}

async fn showcase_videos(
    state: &AppState,
    rows: Vec<ShowcaseVideo>,
) -> DetailResult<Vec<ShowcaseVideoOut>> {
    let native: Vec<&str> = rows.iter().map(|v| v.id.as_str()).collect();
    let nums = ids::numbers(&state.store, Kind::ShowcaseVideo, &native).await?;
    let urls = state.video.media.urls();
    Ok(rows
        .iter()
        .zip(nums)
        .map(|(v, id)| ShowcaseVideoOut {
            id,
            title: v.title.clone(),
            description: v.description.clone(),
            category: v.category.clone(),
            video_url: urls.present(&v.video_url),
            poster_url: v.poster_url.as_deref().map(|p| urls.present(p)),
            is_featured: v.featured != 0,
            order: v.sort_order,
        })
        .collect())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FeaturedQuery {
    /// Default 6, at most 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 20)]
    limit: Option<String>,
}

/// Featured showcase videos in display order.
#[utoipa::path(get, path = "/api/v1/showcase/featured", tag = "AdsVideo v1", security(()), params(FeaturedQuery),
    responses(
        (status = 200, description = "The featured videos and how many there are", body = ShowcaseVideosOut),
        (status = 422, description = "limit out of range", body = DetailBody),
    ))]
pub(super) async fn featured(
    State(state): State<AppState>,
    DQuery(q): DQuery<FeaturedQuery>,
) -> DetailResult<Json<ShowcaseVideosOut>> {
    let limit = int_param("limit", q.limit.as_deref(), 6, 1, 20)?;
    let (rows, total) = service(&state).videos(None, true, 1, limit).await?;
    let videos = showcase_videos(&state, rows).await?;
    Ok(Json(ShowcaseVideosOut { videos, total }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HeroQuery {
    /// Default 3, at most 10.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 10)]
    limit: Option<String>,
}

/// The home page's carousel videos in display order.
#[utoipa::path(get, path = "/api/v1/showcase/hero-videos", tag = "AdsVideo v1", security(()), params(HeroQuery),
    responses(
        (status = 200, description = "The hero videos", body = HeroVideosOut),
        (status = 422, description = "limit out of range", body = DetailBody),
    ))]
pub(super) async fn hero_videos(
    State(state): State<AppState>,
    DQuery(q): DQuery<HeroQuery>,
) -> DetailResult<Json<HeroVideosOut>> {
    let limit = int_param("limit", q.limit.as_deref(), 3, 1, 10)?;
    let (rows, _) = service(&state)
        .items::<HeroVideo>(ShowcaseKind::Hero, 1, limit)
        .await?;
    let native: Vec<&str> = rows.iter().map(|h| h.id.as_str()).collect();
    let nums = ids::numbers(&state.store, Kind::HeroVideo, &native).await?;
    let urls = state.video.media.urls();
    let videos = rows
        .iter()
        .zip(nums)
        .map(|(h, id)| HeroVideoOut {
            id,
            title: h.title.clone(),
            video_url: urls.present(&h.video_url),
            poster_url: h.poster_url.as_deref().map(|p| urls.present(p)),
        })
        .collect();
    Ok(Json(HeroVideosOut { videos }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TrialQuery {
    /// Default 0.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1000)]
    skip: Option<String>,
    /// Default 8, at most 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 20)]
    limit: Option<String>,
}

/// Reference images to try, in display order.
#[utoipa::path(get, path = "/api/v1/showcase/trial-images", tag = "AdsVideo v1", security(()), params(TrialQuery),
    responses(
        (status = 200, description = "The images and how many there are", body = TrialImagesOut),
        (status = 422, description = "skip or limit out of range", body = DetailBody),
    ))]
pub(super) async fn trial_images(
    State(state): State<AppState>,
    DQuery(q): DQuery<TrialQuery>,
) -> DetailResult<Json<TrialImagesOut>> {
    let skip = int_param("skip", q.skip.as_deref(), 0, 0, MAX_SKIP)?;
    let limit = int_param("limit", q.limit.as_deref(), 8, 1, 20)?;
    let (rows, total) = service(&state)
        .items::<TrialImage>(ShowcaseKind::Trial, 1, skip + limit)
        .await?;
    let rows = window(rows, skip);
    let native: Vec<&str> = rows.iter().map(|t| t.id.as_str()).collect();
    let nums = ids::numbers(&state.store, Kind::TrialImage, &native).await?;
    let urls = state.video.media.urls();
    let images = rows
        .iter()
        .zip(nums)
        .map(|(t, id)| TrialImageOut {
            id,
            title: t.title.clone(),
            image_url: urls.present(&t.image_url),
            category: t.category.clone(),
            order: t.sort_order,
        })
        .collect();
    Ok(Json(TrialImagesOut { images, total }))
}
