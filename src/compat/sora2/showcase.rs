//! `/api/showcase`: the public showcase page by page, and one video with its view counted
//! through the native view counting (once per viewer and clock hour). The reference numbers
//! its videos: ids are integer aliases of the native `sc_…` ids (`compat::ids`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::detail::{DQuery, Detail, DetailResult};
use super::super::ids::{self, Kind};
use super::dto::{page_param, time, DetailOut};
use crate::http::viewer::ViewerOf;
use crate::showcase::Showcase;
use crate::state::AppState;
use crate::store::ShowcaseVideo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/showcase/videos", get(videos))
        .route("/api/showcase/videos/{video_id}", get(video))
}

fn service(state: &AppState) -> Showcase<'_> {
    Showcase::new(&state.store, &state.video.media, &state.settings.jwt_secret)
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2ShowcaseVideo)]
pub struct VideoOut {
    id: i64,
    title: String,
    description: String,
    video_url: String,
    thumbnail_url: Option<String>,
    /// taskhub does not record how a showcase video was made: always `TEXT_TO_VIDEO`.
    #[schema(pattern = "^(TEXT_TO_VIDEO|IMAGE_TO_VIDEO)$")]
    task_type: String,
    quality: String,
    /// `landscape` or `portrait` for 16:9 and 9:16; other ratios as stored (`1:1`).
    aspect_ratio: String,
    duration_seconds: f64,
    view_count: i64,
    like_count: i64,
    display_order: i64,
    is_active: bool,
    created_at: String,
}

impl VideoOut {
    fn new(v: &ShowcaseVideo, id: i64, state: &AppState) -> Self {
        let urls = state.video.media.urls();
        let aspect_ratio = match v.aspect_ratio.as_str() {
            "16:9" => "landscape".to_string(),
            "9:16" => "portrait".to_string(),
            other => other.to_string(),
        };
        Self {
            id,
            title: v.title.clone(),
            description: v.description.clone(),
            video_url: urls.present(&v.video_url),
            thumbnail_url: v.poster_url.as_deref().map(|p| urls.present(p)),
            task_type: "TEXT_TO_VIDEO".into(),
            quality: v.quality.clone(),
            aspect_ratio,
            duration_seconds: v.duration as f64,
            view_count: v.view_count,
            like_count: v.like_count,
            display_order: v.sort_order,
            is_active: v.active != 0,
            created_at: time(v.created_at),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Default 1.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    page: Option<String>,
    /// Default 12.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Sora2ShowcasePage)]
pub struct PageOut {
    total: i64,
    page: i64,
    page_size: i64,
    total_pages: i64,
    videos: Vec<VideoOut>,
}

/// Active showcase videos in display order.
#[utoipa::path(get, path = "/compat/sora2/api/showcase/videos", tag = "Sora 2 compat", security(()),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of videos", body = PageOut),
        (status = 422, description = "page or page_size out of range", body = DetailOut),
    ))]
async fn videos(
    State(state): State<AppState>,
    DQuery(q): DQuery<PageQuery>,
) -> DetailResult<Json<PageOut>> {
    let page = page_param("page", q.page.as_deref(), 1, 1_000_000)?;
    let page_size = page_param("page_size", q.page_size.as_deref(), 12, 100)?;
    let (items, total) = service(&state).videos(None, false, page, page_size).await?;
    let native: Vec<&str> = items.iter().map(|v| v.id.as_str()).collect();
    let nums = ids::numbers(&state.store, Kind::ShowcaseVideo, &native).await?;
    Ok(Json(PageOut {
        total,
        page,
        page_size,
        total_pages: (total + page_size - 1) / page_size,
        videos: items
            .iter()
            .zip(nums)
            .map(|(v, n)| VideoOut::new(v, n, &state))
            .collect(),
    }))
}

/// One active video; counts a view.
#[utoipa::path(get, path = "/compat/sora2/api/showcase/videos/{video_id}", tag = "Sora 2 compat", security(()),
    params(("video_id" = i64, Path, description = "The video's `id`")),
    responses(
        (status = 200, description = "The video, `view_count` including this view", body = VideoOut),
        (status = 404, description = "Video not found", body = DetailOut),
    ))]
async fn video(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ViewerOf(viewer): ViewerOf,
) -> DetailResult<Json<VideoOut>> {
    let missing = || Detail::not_found("Video not found");
    let num: i64 = raw.parse().map_err(|_| missing())?;
    let native = ids::native(&state.store, Kind::ShowcaseVideo, num)
        .await?
        .ok_or_else(missing)?;
    let v = match service(&state).view(&native, &viewer).await {
        Err(crate::error::ApiError::NotFound(_)) => return Err(missing()),
        other => other?,
    };
    Ok(Json(VideoOut::new(&v, num, &state)))
}
