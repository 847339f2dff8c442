//! Promoting a user's task into the showcase: only a completed task with a video, once per
//! task (a second promotion is 409, also when two race: `source_task_id` is unique).
//!
//! The video keeps what the task had: its video and poster, duration (the result's, else the
//! requested seconds), quality, and the aspect ratio of its size (`1280x720` → `16:9`). When
//! the task's files are in our media store, they are *copied* under a fresh name
//! (`video_<uuid>.mp4/.jpg`), so the showcase keeps playing after the user deletes the
//! task (deleting a task deletes its files); deleting the showcase video deletes the copies.
//! A provider URL (media copying off) is kept as it is.

use super::input::{DURATION_MAX, TITLE_MAX};
use super::{new_id, VideoInput};
use crate::domain::time::now_ms;
use crate::domain::TaskStatus;
use crate::error::{ApiError, ApiResult};
use crate::media::{MediaStore, MediaUrls, StorageError};
use crate::store::{ShowcaseVideo, Store, StoreError};

/// What the admin may set on a promoted video; the rest comes from the task. `title`
/// defaults to the prompt's first 120 characters, `description` to the prompt (up to 2000),
/// `category` to `Community`.
#[derive(Clone, Debug, Default)]
pub struct PromoteInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub featured: Option<bool>,
    pub order: Option<i64>,
}

/// `W:H` of a `WxH` size, reduced (`1280x720` → `16:9`); `16:9` when the size is unreadable.
pub fn aspect_of(size: &str) -> String {
    let parse = |s: &str| s.trim().parse::<u64>().ok().filter(|n| *n > 0);
    let Some((w, h)) = size
        .split_once('x')
        .and_then(|(w, h)| Some((parse(w)?, parse(h)?)))
    else {
        return "16:9".into();
    };
    let (mut a, mut b) = (w, h);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let ratio = format!("{}:{}", w / a, h / a);
    if super::input::is_aspect_ratio(&ratio) {
        ratio
    } else {
        "16:9".into()
    }
}

fn clip(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

pub(super) async fn promote(
    store: &Store,
    media: &MediaStore,
    task_id: &str,
    input: PromoteInput,
) -> ApiResult<ShowcaseVideo> {
    if !crate::domain::ids::is_video_id(task_id) {
        return Err(ApiError::not_found("task"));
    }
    let task = match store.get_task(task_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("task")),
        other => other?,
    };
    let video_url = match (&task.video_url, task.status()) {
        (Some(url), TaskStatus::Completed) => url.clone(),
        _ => {
            return Err(ApiError::Conflict(format!(
                "only a completed task with a video can be promoted; this one is {}",
                task.status
            )))
        }
    };
    if let Some(id) = store.showcase_video_of_task(task_id).await? {
        return Err(ApiError::Conflict(format!(
            "this task is already in the showcase as {id}"
        )));
    }
    let title = input.title.unwrap_or_else(|| clip(&task.prompt, TITLE_MAX));
    let fields = VideoInput {
        title: Some(if title.trim().is_empty() {
            "Untitled".into()
        } else {
            title
        }),
        description: Some(
            input
                .description
                .unwrap_or_else(|| clip(&task.prompt, 2000)),
        ),
        category: Some(input.category.unwrap_or_else(|| "Community".into())),
        // Checked here as a placeholder; the stored value is the task's (below).
        video_url: Some("/media/placeholder".into()),
        duration: Some(task.duration.unwrap_or(task.seconds).clamp(1, DURATION_MAX)),
        quality: Some(task.quality.clone()),
        aspect_ratio: Some(aspect_of(&task.size)),
        featured: input.featured,
        order: input.order,
        ..Default::default()
    };
    let id = new_id();
    let mut video = fields.into_new(id, now_ms())?;
    let stem = format!("video_{}", uuid::Uuid::now_v7());
    video.video_url = copy(media, &video_url, &stem).await?;
    video.poster_url = match &task.thumbnail_url {
        Some(t) => Some(copy(media, t, &stem).await?),
        None => None,
    };
    video.source_task_id = Some(task.id.clone());
    match store.insert_showcase_video(&video, false).await {
        Ok(_) => Ok(video),
        Err(e) => {
            media.remove_task(&stem).await;
            Err(match e {
                StoreError::Conflict(_) => {
                    ApiError::Conflict("this task is already in the showcase".into())
                }
                other => other.into(),
            })
        }
    }
}

/// The stored value for a promoted file: a copy named `{stem}.{ext}` of a media key, or a
/// provider URL as it is.
async fn copy(media: &MediaStore, stored: &str, stem: &str) -> ApiResult<String> {
    let Some(key) = MediaUrls::key_of(stored) else {
        return Ok(stored.to_string());
    };
    let ext = key.rsplit_once('.').map_or("mp4", |(_, e)| e);
    let name = format!("{stem}.{ext}");
    match media.copy(key, &name).await {
        Ok(()) => Ok(name),
        Err(StorageError::NotFound) => {
            media.remove_task(stem).await;
            Err(ApiError::Conflict(
                "the task's media file is gone; it cannot be promoted".into(),
            ))
        }
        Err(e) => {
            media.remove_task(stem).await;
            Err(ApiError::Internal(
                anyhow::Error::new(e).context("copying media"),
            ))
        }
    }
}

/// Deletes the media copies a promoted video owns (its stored values that are media keys).
pub(super) async fn remove_copies(media: &MediaStore, v: &ShowcaseVideo) {
    let keys = [Some(v.video_url.as_str()), v.poster_url.as_deref()];
    for key in keys.into_iter().flatten() {
        if MediaStore::is_valid_name(key) {
            if let Some((stem, _)) = key.rsplit_once('.') {
                media.remove_task(stem).await;
            }
        }
    }
}

/// Deletes the copies `old` owned that `new` no longer uses (an update replaced them).
pub(super) async fn remove_replaced(media: &MediaStore, old: &ShowcaseVideo, new: &ShowcaseVideo) {
    let kept = [Some(new.video_url.as_str()), new.poster_url.as_deref()];
    for key in [Some(old.video_url.as_str()), old.poster_url.as_deref()]
        .into_iter()
        .flatten()
    {
        if MediaStore::is_valid_name(key) && !kept.contains(&Some(key)) {
            if let Err(e) = media.remove(key).await {
                tracing::warn!(file = key, error = %e, "could not delete a showcase copy");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::aspect_of;

    #[test]
    fn sizes_become_reduced_ratios() {
        assert_eq!(aspect_of("1280x720"), "16:9");
        assert_eq!(aspect_of("720x1280"), "9:16");
        assert_eq!(aspect_of("1024x1792"), "4:7");
        assert_eq!(aspect_of("1024x1024"), "1:1");
        assert_eq!(aspect_of("bogus"), "16:9");
        assert_eq!(aspect_of("0x5"), "16:9");
    }
}
