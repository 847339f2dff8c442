//! The AdsVideo API's bodies, as its reference shows them: snake_case, integer ids, naive UTC
//! datetimes (`2025-10-15T10:30:00`), `pending/processing/completed/failed` statuses, credits
//! as a float. Schema names carry an `AdsVideo` prefix so they never collide with native ones.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::TaskStatus;
use crate::media::MediaUrls;
use crate::store::{Task, User};

/// The reference's datetimes: ISO 8601 without an offset, in UTC, to the second.
pub fn datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// `{"detail": …}`: a message, or FastAPI's list of field errors (422).
#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoDetail)]
pub struct DetailBody {
    pub detail: DetailValue,
}

/// A message, or a list of `{loc, msg, type}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = AdsVideoDetailValue)]
pub enum DetailValue {
    Message(String),
    Fields(Vec<FieldError>),
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoFieldError)]
pub struct FieldError {
    /// Where: `body`, `query` or `path`, then the field.
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoTokens)]
pub struct TokensOut {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoUser)]
pub struct UserOut {
    pub id: i64,
    pub email: String,
    /// The display name, else the username.
    pub name: String,
    pub avatar_url: Option<String>,
    pub credits: f64,
    /// UTC, `YYYY-MM-DDTHH:MM:SS`.
    pub created_at: String,
}

impl UserOut {
    pub fn new(id: i64, user: &User, credits: i64) -> Self {
        Self {
            id,
            email: user.email.clone(),
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            avatar_url: user.avatar_url.clone(),
            credits: credits as f64,
            created_at: datetime(user.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoCredits)]
pub struct CreditsOut {
    pub credits: f64,
    pub user_id: i64,
}

/// A video's status as this API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AdsVideoStatus)]
pub enum VideoStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl VideoStatus {
    /// taskhub's status as this API's (`cancelled` shows as `failed`, with an error message).
    pub fn of(status: TaskStatus) -> Self {
        match status {
            TaskStatus::Queued => Self::Pending,
            TaskStatus::Processing => Self::Processing,
            TaskStatus::Completed => Self::Completed,
            TaskStatus::Failed | TaskStatus::Cancelled => Self::Failed,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// The native statuses this one shows.
    pub fn native(self) -> &'static [TaskStatus] {
        match self {
            Self::Pending => &[TaskStatus::Queued],
            Self::Processing => &[TaskStatus::Processing],
            Self::Completed => &[TaskStatus::Completed],
            Self::Failed => &[TaskStatus::Failed, TaskStatus::Cancelled],
        }
    }
}

/// What a cancelled task (cancelled through the native API) says, shown as `failed`.
pub const CANCELLED_MESSAGE: &str = "The video generation was cancelled";

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoVideo)]
pub struct VideoOut {
    pub id: i64,
    pub user_id: i64,
    pub prompt: String,
    pub model: String,
    pub reference_image_url: Option<String>,
    pub video_url: Option<String>,
    pub poster_url: Option<String>,
    pub status: VideoStatus,
    /// Seconds, once completed.
    pub duration: Option<i64>,
    /// `WIDTHxHEIGHT`, once completed.
    pub resolution: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl VideoOut {
    pub fn new(id: i64, user_id: i64, task: &Task, urls: Option<&MediaUrls>) -> Self {
        let mut result = task.result();
        if let (Some(urls), Some(r)) = (urls, result.as_mut()) {
            urls.sign_task_result(r);
        }
        let done = task.status == TaskStatus::Completed;
        let error_message = match task.status {
            TaskStatus::Failed => task
                .error_message
                .clone()
                .or_else(|| task.error_code.clone())
                .or_else(|| Some("The video generation failed".into())),
            TaskStatus::Cancelled => Some(match &task.message {
                Some(m) => format!("{CANCELLED_MESSAGE}: {m}"),
                None => CANCELLED_MESSAGE.into(),
            }),
            _ => None,
        };
        let (video_url, poster_url, duration, resolution) = match (done, result) {
            (true, Some(r)) => (
                Some(r.video_url),
                r.thumbnail_url,
                Some(r.duration.unwrap_or(task.seconds)),
                Some(r.resolution.unwrap_or_else(|| task.size.clone())),
            ),
            _ => (None, None, None, None),
        };
        Self {
            id,
            user_id,
            prompt: task.prompt.clone(),
            model: task.model.clone(),
            reference_image_url: task.reference_image_url.clone(),
            video_url,
            poster_url,
            status: VideoStatus::of(task.status),
            duration,
            resolution,
            error_message,
            created_at: datetime(task.created_at),
            updated_at: datetime(task.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoVideoList)]
pub struct VideoListOut {
    pub videos: Vec<VideoOut>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoModel)]
pub struct ModelOut {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoModels)]
pub struct ModelsOut {
    pub models: Vec<ModelOut>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoShowcaseVideo)]
pub struct ShowcaseVideoOut {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    pub video_url: String,
    pub poster_url: Option<String>,
    pub is_featured: bool,
    pub order: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoShowcaseVideos)]
pub struct ShowcaseVideosOut {
    pub videos: Vec<ShowcaseVideoOut>,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoHeroVideo)]
pub struct HeroVideoOut {
    pub id: i64,
    pub title: String,
    pub video_url: String,
    pub poster_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoHeroVideos)]
pub struct HeroVideosOut {
    pub videos: Vec<HeroVideoOut>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoTrialImage)]
pub struct TrialImageOut {
    pub id: i64,
    pub title: String,
    pub image_url: String,
    pub category: String,
    pub order: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoTrialImages)]
pub struct TrialImagesOut {
    pub images: Vec<TrialImageOut>,
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_naive_utc_to_the_second() {
        // 2025-10-15T10:30:00Z, with milliseconds that are dropped.
        assert_eq!(datetime(1_760_524_200_123), "2025-10-15T10:30:00");
    }

    #[test]
    fn every_native_status_has_a_name_and_filters_find_it_again() {
        use TaskStatus::*;
        for s in [Queued, Processing, Completed, Failed, Cancelled] {
            assert!(VideoStatus::of(s).native().contains(&s), "{s}");
        }
        assert_eq!(VideoStatus::parse("failed"), Some(VideoStatus::Failed));
        assert_eq!(VideoStatus::parse("queued"), None);
    }
}
