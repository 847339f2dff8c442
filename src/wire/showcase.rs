//! The showcase as clients see it: videos, hero videos, trial images. Stored media keys (a
//! promoted task's copied files) are shown as fresh signed URLs; other URLs as stored.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::media::MediaUrls;
use crate::store::{HeroVideo, ShowcaseVideo, TrialImage};

/// A showcase video.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShowcaseVideoView {
    #[schema(pattern = "^sc_[0-9a-f-]{36}$")]
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub video_url: String,
    pub poster_url: Option<String>,
    /// Seconds.
    #[schema(minimum = 1, maximum = 600)]
    pub duration: i64,
    #[schema(pattern = "^(standard|hd)$")]
    pub quality: String,
    /// `W:H`, like `16:9`.
    pub aspect_ratio: String,
    pub featured: bool,
    /// Display position, smallest first.
    pub order: i64,
    /// Inactive videos are shown to admins only.
    pub active: bool,
    pub view_count: i64,
    pub like_count: i64,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

impl ShowcaseVideoView {
    pub fn new(v: &ShowcaseVideo, urls: &MediaUrls) -> Self {
        Self {
            id: v.id.clone(),
            title: v.title.clone(),
            description: v.description.clone(),
            category: v.category.clone(),
            video_url: urls.present(&v.video_url),
            poster_url: v.poster_url.as_deref().map(|p| urls.present(p)),
            duration: v.duration,
            quality: v.quality.clone(),
            aspect_ratio: v.aspect_ratio.clone(),
            featured: v.featured != 0,
            order: v.sort_order,
            active: v.active != 0,
            view_count: v.view_count,
            like_count: v.like_count,
            created_at: rfc3339(v.created_at),
            updated_at: rfc3339(v.updated_at),
        }
    }
}

/// A hero (home page carousel) video.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeroVideoView {
    #[schema(pattern = "^sc_[0-9a-f-]{36}$")]
    pub id: String,
    pub title: String,
    pub video_url: String,
    pub poster_url: Option<String>,
    pub order: i64,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl HeroVideoView {
    pub fn new(h: &HeroVideo, urls: &MediaUrls) -> Self {
        Self {
            id: h.id.clone(),
            title: h.title.clone(),
            video_url: urls.present(&h.video_url),
            poster_url: h.poster_url.as_deref().map(|p| urls.present(p)),
            order: h.sort_order,
            active: h.active != 0,
            created_at: rfc3339(h.created_at),
            updated_at: rfc3339(h.updated_at),
        }
    }
}

/// A trial image (a reference image visitors may try image-to-video with).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrialImageView {
    #[schema(pattern = "^sc_[0-9a-f-]{36}$")]
    pub id: String,
    pub title: String,
    pub image_url: String,
    pub category: String,
    pub order: i64,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl TrialImageView {
    pub fn new(t: &TrialImage, urls: &MediaUrls) -> Self {
        Self {
            id: t.id.clone(),
            title: t.title.clone(),
            image_url: urls.present(&t.image_url),
            category: t.category.clone(),
            order: t.sort_order,
            active: t.active != 0,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// A short list that is not paged (featured videos, hero videos).
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemsView<T> {
    pub items: Vec<T>,
}

/// What a delete or reorder did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShowcaseChanged {
    /// The deleted id, or the ids in their new order.
    pub ids: Vec<String>,
    /// `deleted` or `reordered`.
    pub action: String,
}
