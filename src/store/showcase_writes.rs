//! Showcase writes: updates (one statement each, given fields only), counting a view (at
//! most once per viewer and clock hour), reordering, deleting, and pruning the view log.
//! Counters (`view_count`, `like_count`) are never written by an update, only by
//! [`Store::view_showcase_video`], so an admin edit cannot undo a concurrent view.

use super::showcase::{flag, ItemPatch, ShowcaseKind, ShowcaseVideo, VideoPatch, VIDEO_COLS};
use super::{Store, StoreError, StoreResult};

impl Store {
    /// Applies `p` to a showcase video in one statement; `NotFound` for an unknown id.
    pub async fn update_showcase_video(
        &self,
        id: &str,
        p: &VideoPatch,
        now: i64,
    ) -> StoreResult<ShowcaseVideo> {
        let q = format!(
            "UPDATE showcase_videos SET title = COALESCE($2, title),
                description = COALESCE($3, description), category = COALESCE($4, category),
                video_url = COALESCE($5, video_url), poster_url = COALESCE($6, poster_url),
                duration = COALESCE($7, duration), quality = COALESCE($8, quality),
                aspect_ratio = COALESCE($9, aspect_ratio), featured = COALESCE($10, featured),
                sort_order = COALESCE($11, sort_order), active = COALESCE($12, active),
                updated_at = $13
             WHERE id = $1 RETURNING {VIDEO_COLS}"
        );
        sqlx::query_as(&q)
            .bind(id)
            .bind(&p.title)
            .bind(&p.description)
            .bind(&p.category)
            .bind(&p.video_url)
            .bind(&p.poster_url)
            .bind(p.duration)
            .bind(&p.quality)
            .bind(&p.aspect_ratio)
            .bind(flag(p.featured))
            .bind(p.sort_order)
            .bind(flag(p.active))
            .bind(now)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Applies `p` to a hero video or trial image in one statement.
    pub async fn update_showcase_item<T>(
        &self,
        kind: ShowcaseKind,
        id: &str,
        p: &ItemPatch,
        now: i64,
    ) -> StoreResult<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let (url, extra) = match kind {
            ShowcaseKind::Trial => ("image_url", "category"),
            _ => ("video_url", "poster_url"),
        };
        let q = format!(
            "UPDATE {} SET title = COALESCE($2, title), {url} = COALESCE($3, {url}),
                {extra} = COALESCE($4, {extra}), sort_order = COALESCE($5, sort_order),
                active = COALESCE($6, active), updated_at = $7
             WHERE id = $1 RETURNING {}",
            kind.table(),
            kind.cols()
        );
        sqlx::query_as(&q)
            .bind(id)
            .bind(&p.title)
            .bind(&p.url)
            .bind(&p.extra)
            .bind(p.sort_order)
            .bind(flag(p.active))
            .bind(now)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Reads an active showcase video and counts a view by `viewer` in `hour`, once: in one
    /// transaction, the view row is inserted if absent (the primary key decides, so
    /// concurrent views by one viewer queue on it and all but one insert nothing) and only
    /// an inserted row increments `view_count`. `None`: no such active video.
    pub async fn view_showcase_video(
        &self,
        id: &str,
        viewer: &str,
        hour: i64,
    ) -> StoreResult<Option<ShowcaseVideo>> {
        let mut tx = self.pool().begin().await?;
        // The insert is the first statement: it takes the write lock (SQLite) or the key
        // lock (PostgreSQL) before anything is read.
        let inserted = sqlx::query(
            "INSERT INTO showcase_views (video_id, viewer, hour)
             SELECT $1, $2, $3 WHERE EXISTS
                (SELECT 1 FROM showcase_videos WHERE id = $1 AND active = 1)
             ON CONFLICT (video_id, viewer, hour) DO NOTHING",
        )
        .bind(id)
        .bind(viewer)
        .bind(hour)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let q = if inserted == 1 {
            format!(
                "UPDATE showcase_videos SET view_count = view_count + 1
                 WHERE id = $1 AND active = 1 RETURNING {VIDEO_COLS}"
            )
        } else {
            format!("SELECT {VIDEO_COLS} FROM showcase_videos WHERE id = $1 AND active = 1")
        };
        let video = sqlx::query_as(&q).bind(id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(video)
    }

    /// Gives the listed rows `sort_order` 0, 1, 2, … in the listed order, in one
    /// transaction. `Some(id)`: that id does not exist, and nothing changed.
    pub async fn reorder_showcase(
        &self,
        kind: ShowcaseKind,
        ids: &[String],
        now: i64,
    ) -> StoreResult<Option<String>> {
        let q = format!(
            "UPDATE {} SET sort_order = $1, updated_at = $2 WHERE id = $3",
            kind.table()
        );
        let mut tx = self.pool().begin().await?;
        for (i, id) in ids.iter().enumerate() {
            let done = sqlx::query(&q)
                .bind(i64::try_from(i).unwrap_or(i64::MAX))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Some(id.clone()));
            }
        }
        tx.commit().await?;
        Ok(None)
    }

    /// Deletes a showcase video (and its view log); the deleted row, `None` if unknown.
    pub async fn delete_showcase_video(&self, id: &str) -> StoreResult<Option<ShowcaseVideo>> {
        let q = format!("DELETE FROM showcase_videos WHERE id = $1 RETURNING {VIDEO_COLS}");
        Ok(sqlx::query_as(&q)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Deletes a hero video or trial image; false if unknown.
    pub async fn delete_showcase_item(&self, kind: ShowcaseKind, id: &str) -> StoreResult<bool> {
        let q = format!("DELETE FROM {} WHERE id = $1", kind.table());
        let done = sqlx::query(&q).bind(id).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes at most `limit` view rows of hours before `hour`.
    pub async fn prune_showcase_views(&self, hour: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM showcase_views WHERE (video_id, viewer, hour) IN (
                SELECT video_id, viewer, hour FROM showcase_views WHERE hour < $1 LIMIT $2)",
        )
        .bind(hour)
        .bind(limit)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// How many view rows are kept (for tests and the closing note's figures).
    pub async fn count_showcase_views(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM showcase_views")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }
}
