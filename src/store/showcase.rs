//! The showcase tables: videos shown on the public site, hero (carousel) videos and trial
//! images: rows, inserts and reads. What a field may hold is decided by the `showcase`
//! service. Flags are stored as 0/1 (`featured`, `active`). Updates, views, reorders and
//! deletes are in `showcase_writes.rs`.

use super::{Store, StoreResult};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ShowcaseVideo {
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    /// A URL, a site path, or a media key (a promoted task's copied video).
    pub video_url: String,
    pub poster_url: Option<String>,
    pub duration: i64,
    pub quality: String,
    pub aspect_ratio: String,
    pub featured: i64,
    pub sort_order: i64,
    pub active: i64,
    pub view_count: i64,
    pub like_count: i64,
    pub source_task_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HeroVideo {
    pub id: String,
    pub title: String,
    pub video_url: String,
    pub poster_url: Option<String>,
    pub sort_order: i64,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TrialImage {
    pub id: String,
    pub title: String,
    pub image_url: String,
    pub category: String,
    pub sort_order: i64,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The three showcase tables, for the operations they share (reorder, delete, paging).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowcaseKind {
    Video,
    Hero,
    Trial,
}

impl ShowcaseKind {
    pub(super) fn table(self) -> &'static str {
        match self {
            Self::Video => "showcase_videos",
            Self::Hero => "showcase_hero_videos",
            Self::Trial => "showcase_trial_images",
        }
    }

    pub(super) fn cols(self) -> &'static str {
        match self {
            Self::Video => VIDEO_COLS,
            Self::Hero => HERO_COLS,
            Self::Trial => TRIAL_COLS,
        }
    }

    /// "showcase video", "hero video", "trial image": for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Video => "showcase video",
            Self::Hero => "hero video",
            Self::Trial => "trial image",
        }
    }
}

pub(super) const VIDEO_COLS: &str = "id, title, description, category, video_url, poster_url, \
    duration, quality, aspect_ratio, featured, sort_order, active, view_count, like_count, \
    source_task_id, created_at, updated_at";
const HERO_COLS: &str =
    "id, title, video_url, poster_url, sort_order, active, created_at, updated_at";
const TRIAL_COLS: &str =
    "id, title, image_url, category, sort_order, active, created_at, updated_at";

/// Changes to a showcase video; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct VideoPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub video_url: Option<String>,
    pub poster_url: Option<String>,
    pub duration: Option<i64>,
    pub quality: Option<String>,
    pub aspect_ratio: Option<String>,
    pub featured: Option<bool>,
    pub sort_order: Option<i64>,
    pub active: Option<bool>,
}

/// Changes to a hero video or a trial image; `url` is the video or the image, `extra` the
/// poster (hero) or the category (trial).
#[derive(Clone, Debug, Default)]
pub struct ItemPatch {
    pub title: Option<String>,
    pub url: Option<String>,
    pub extra: Option<String>,
    pub sort_order: Option<i64>,
    pub active: Option<bool>,
}

/// Which showcase videos a list shows.
#[derive(Clone, Debug, Default)]
pub struct VideoFilter<'a> {
    pub category: Option<&'a str>,
    /// Only featured videos.
    pub featured_only: bool,
    /// Admins see inactive ones too.
    pub include_inactive: bool,
}

pub(super) fn flag(b: Option<bool>) -> Option<i64> {
    b.map(i64::from)
}

impl Store {
    /// Inserts a showcase video. With `if_absent`, an existing id is left alone (`false`);
    /// otherwise a taken id or an already promoted task is a `Conflict`.
    pub async fn insert_showcase_video(
        &self,
        v: &ShowcaseVideo,
        if_absent: bool,
    ) -> StoreResult<bool> {
        let tail = if if_absent {
            " ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        };
        let q = format!(
            "INSERT INTO showcase_videos ({VIDEO_COLS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17){tail}"
        );
        let done = sqlx::query(&q)
            .bind(&v.id)
            .bind(&v.title)
            .bind(&v.description)
            .bind(&v.category)
            .bind(&v.video_url)
            .bind(&v.poster_url)
            .bind(v.duration)
            .bind(&v.quality)
            .bind(&v.aspect_ratio)
            .bind(v.featured)
            .bind(v.sort_order)
            .bind(v.active)
            .bind(v.view_count)
            .bind(v.like_count)
            .bind(&v.source_task_id)
            .bind(v.created_at)
            .bind(v.updated_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_hero_video(&self, h: &HeroVideo, if_absent: bool) -> StoreResult<bool> {
        let tail = if if_absent {
            " ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        };
        let q = format!(
            "INSERT INTO showcase_hero_videos ({HERO_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8){tail}"
        );
        let done = sqlx::query(&q)
            .bind(&h.id)
            .bind(&h.title)
            .bind(&h.video_url)
            .bind(&h.poster_url)
            .bind(h.sort_order)
            .bind(h.active)
            .bind(h.created_at)
            .bind(h.updated_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_trial_image(&self, t: &TrialImage, if_absent: bool) -> StoreResult<bool> {
        let tail = if if_absent {
            " ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        };
        let q = format!(
            "INSERT INTO showcase_trial_images ({TRIAL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8){tail}"
        );
        let done = sqlx::query(&q)
            .bind(&t.id)
            .bind(&t.title)
            .bind(&t.image_url)
            .bind(&t.category)
            .bind(t.sort_order)
            .bind(t.active)
            .bind(t.created_at)
            .bind(t.updated_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One showcase row by id (inactive ones only when `include_inactive`).
    pub async fn get_showcase<T>(
        &self,
        kind: ShowcaseKind,
        id: &str,
        include_inactive: bool,
    ) -> StoreResult<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let active = if include_inactive {
            ""
        } else {
            " AND active = 1"
        };
        let q = format!(
            "SELECT {} FROM {} WHERE id = $1{active}",
            kind.cols(),
            kind.table()
        );
        Ok(sqlx::query_as(&q).bind(id).fetch_one(self.pool()).await?)
    }

    /// The showcase video promoted from `task_id`, if any.
    pub async fn showcase_video_of_task(&self, task_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM showcase_videos WHERE source_task_id = $1")
                .bind(task_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// One page of showcase videos in display order (`sort_order`, then creation), and the
    /// total.
    pub async fn list_showcase_videos(
        &self,
        f: &VideoFilter<'_>,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<ShowcaseVideo>, i64)> {
        let mut conds = Vec::new();
        if !f.include_inactive {
            conds.push("active = 1");
        }
        if f.featured_only {
            conds.push("featured = 1");
        }
        if f.category.is_some() {
            conds.push("category = $1");
        }
        self.showcase_page(ShowcaseKind::Video, &conds, f.category, page, page_size)
            .await
    }

    /// One page of hero videos or trial images in display order, and the total.
    pub async fn list_showcase_items<T>(
        &self,
        kind: ShowcaseKind,
        include_inactive: bool,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<T>, i64)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let conds: &[&str] = if include_inactive {
            &[]
        } else {
            &["active = 1"]
        };
        self.showcase_page(kind, conds, None, page, page_size).await
    }

    /// `conds` are code, never input; `param` is bound as `$1` when given.
    async fn showcase_page<T>(
        &self,
        kind: ShowcaseKind,
        conds: &[&str],
        param: Option<&str>,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<T>, i64)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let (lim, off) = if param.is_some() {
            ("$2", "$3")
        } else {
            ("$1", "$2")
        };
        let (table, cols) = (kind.table(), kind.cols());
        let count_q = format!("SELECT COUNT(*) FROM {table}{clause}");
        let list_q = format!(
            "SELECT {cols} FROM {table}{clause} ORDER BY sort_order, id LIMIT {lim} OFFSET {off}"
        );
        let mut count = sqlx::query_as::<_, (i64,)>(&count_q);
        let mut list = sqlx::query_as::<_, T>(&list_q);
        if let Some(p) = param {
            count = count.bind(p);
            list = list.bind(p);
        }
        let (total,) = count.fetch_one(self.pool()).await?;
        let items = list
            .bind(page_size)
            .bind((page - 1).saturating_mul(page_size))
            .fetch_all(self.pool())
            .await?;
        Ok((items, total))
    }
}
