//! The JSON bodies of the admin showcase routes, turned into the service's inputs. Unknown
//! fields are refused (422 naming the field), so a misspelt field is never silently ignored.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::showcase::{ItemInput, PromoteInput, VideoInput};

/// A showcase video to create (`title`, `category`, `videoUrl`, `duration` and
/// `aspectRatio` required) or the fields to change (at least one). URLs are `http(s)://…`
/// or a site path under `/media/` or `/assets/`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ShowcaseVideoBody)]
pub(super) struct VideoBody {
    #[schema(min_length = 1, max_length = 120)]
    title: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// Free text, like `Product` or `F&B`.
    #[schema(min_length = 1, max_length = 40)]
    category: Option<String>,
    #[schema(max_length = 2048)]
    video_url: Option<String>,
    #[schema(max_length = 2048)]
    poster_url: Option<String>,
    /// Seconds.
    #[schema(minimum = 1, maximum = 600)]
    #[serde(default, deserialize_with = "whole")]
    duration: Option<i64>,
    /// Default `standard`.
    #[schema(pattern = "^(standard|hd)$")]
    quality: Option<String>,
    /// `W:H`, like `16:9`.
    #[schema(pattern = "^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$")]
    aspect_ratio: Option<String>,
    featured: Option<bool>,
    /// Display position, smallest first (default 0).
    #[schema(minimum = 0, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "whole")]
    order: Option<i64>,
    /// `false` hides the video from the public (default `true`).
    active: Option<bool>,
}

impl From<VideoBody> for VideoInput {
    fn from(b: VideoBody) -> Self {
        Self {
            title: b.title,
            description: b.description,
            category: b.category,
            video_url: b.video_url,
            poster_url: b.poster_url,
            duration: b.duration,
            quality: b.quality,
            aspect_ratio: b.aspect_ratio,
            featured: b.featured,
            order: b.order,
            active: b.active,
        }
    }
}

/// A hero video to create (`title` and `videoUrl` required) or the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = HeroVideoBody)]
pub(super) struct HeroBody {
    #[schema(min_length = 1, max_length = 120)]
    title: Option<String>,
    #[schema(max_length = 2048)]
    video_url: Option<String>,
    #[schema(max_length = 2048)]
    poster_url: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "whole")]
    order: Option<i64>,
    active: Option<bool>,
}

impl From<HeroBody> for ItemInput {
    fn from(b: HeroBody) -> Self {
        Self {
            title: b.title,
            url: b.video_url,
            extra: b.poster_url,
            order: b.order,
            active: b.active,
        }
    }
}

/// A trial image to create (`title`, `imageUrl` and `category` required) or the fields to
/// change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = TrialImageBody)]
pub(super) struct TrialBody {
    #[schema(min_length = 1, max_length = 120)]
    title: Option<String>,
    #[schema(max_length = 2048)]
    image_url: Option<String>,
    #[schema(min_length = 1, max_length = 40)]
    category: Option<String>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "whole")]
    order: Option<i64>,
    active: Option<bool>,
}

impl From<TrialBody> for ItemInput {
    fn from(b: TrialBody) -> Self {
        Self {
            title: b.title,
            url: b.image_url,
            extra: b.category,
            order: b.order,
            active: b.active,
        }
    }
}

/// The new display order: the listed ids get `order` 0, 1, 2, …; others keep theirs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ShowcaseReorder)]
pub(super) struct ReorderBody {
    #[schema(min_items = 1, max_items = 1000)]
    pub(super) ids: Vec<String>,
}

/// What to set on a promoted task's video (all optional; the rest comes from the task).
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ShowcasePromote)]
pub(super) struct PromoteBody {
    /// Default: the prompt's first 120 characters.
    #[schema(min_length = 1, max_length = 120)]
    title: Option<String>,
    /// Default: the prompt (up to 2000 characters).
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// Default `Community`.
    #[schema(min_length = 1, max_length = 40)]
    category: Option<String>,
    featured: Option<bool>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "whole")]
    order: Option<i64>,
}

impl From<PromoteBody> for PromoteInput {
    fn from(b: PromoteBody) -> Self {
        Self {
            title: b.title,
            description: b.description,
            category: b.category,
            featured: b.featured,
            order: b.order,
        }
    }
}

/// A whole number, also when written as a float (`269.0` is an integer to JSON Schema).
fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // Below 2^53 every whole f64 is exact, and far beyond every limit here.
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "invalid value {n}: expected a whole number"
        ))),
    }
}
