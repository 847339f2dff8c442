//! The showcase use cases: what the public site shows (videos with paging and filters,
//! featured videos, hero videos, trial images, one video with its view counted) and what
//! admins do with them (create, update, reorder, deactivate, delete, and promote a user's
//! finished task). Routes stay thin so another API shape (a compat adapter) can call the
//! same functions.
//!
//! Inactive items never appear publicly; by id they are 404 like unknown ones. A view is
//! counted at most once per viewer and clock hour ([`Store::view_showcase_video`]); the
//! viewer is the signed-in user, else the client address (IPv6 by its /64), kept only as an
//! HMAC under a key derived from the JWT secret, so the view log holds no addresses and
//! every node derives the same key.

pub mod input;
mod promote;
pub mod seed;

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use self::input::{ItemInput, VideoInput};
pub use self::promote::PromoteInput;
use crate::auth::AuthUser;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::media::MediaStore;
use crate::secret::Secret;
use crate::store::{
    HeroVideo, ShowcaseKind, ShowcaseVideo, Store, StoreError, StoreResult, TrialImage, VideoFilter,
};

const HOUR_MS: i64 = 3_600_000;
/// At most this many ids in one reorder (one transaction, one statement each).
pub const REORDER_MAX: usize = 1000;
/// Rows deleted per statement when pruning the view log.
const PRUNE_BATCH: i64 = 1000;

/// Who is looking at a video, for counting views.
#[derive(Clone, Debug)]
pub enum Viewer {
    User(String),
    Ip(IpAddr),
}

/// The showcase service over one store and media folder.
pub struct Showcase<'a> {
    store: &'a Store,
    media: &'a MediaStore,
    viewer_key: [u8; 32],
}

/// A new showcase id: `sc_` and a UUID v7.
pub fn new_id() -> String {
    format!("sc_{}", uuid::Uuid::now_v7())
}

/// `sc_` and a UUID; anything else is answered like an unknown id.
pub fn is_showcase_id(id: &str) -> bool {
    id.strip_prefix("sc_")
        .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
}

fn not_found(kind: ShowcaseKind, id: &str) -> ApiError {
    let id: String = id.chars().take(80).collect();
    ApiError::NotFound(format!("{} {id} not found", kind.noun()))
}

fn found<T>(kind: ShowcaseKind, id: &str, r: StoreResult<T>) -> ApiResult<T> {
    match r {
        Err(StoreError::NotFound) => Err(not_found(kind, id)),
        other => Ok(other?),
    }
}

impl<'a> Showcase<'a> {
    pub fn new(store: &'a Store, media: &'a MediaStore, jwt_secret: &Secret) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"taskhub showcase viewer v1");
        Self {
            store,
            media,
            viewer_key: mac.finalize().into_bytes().into(),
        }
    }

    /// What the view log stores for `viewer`.
    fn viewer_key(&self, viewer: &Viewer) -> String {
        match viewer {
            Viewer::User(id) => format!("u:{id}"),
            Viewer::Ip(ip) => {
                let bytes = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
                };
                let mut mac = Hmac::<Sha256>::new_from_slice(&self.viewer_key)
                    .expect("HMAC takes keys of any length");
                mac.update(&bytes);
                format!("ip:{}", hex::encode(&mac.finalize().into_bytes()[..16]))
            }
        }
    }

    /// Active videos, in display order, optionally of one category or featured only.
    pub async fn videos(
        &self,
        category: Option<&str>,
        featured_only: bool,
        page: i64,
        page_size: i64,
    ) -> ApiResult<(Vec<ShowcaseVideo>, i64)> {
        let f = VideoFilter {
            category,
            featured_only,
            include_inactive: false,
        };
        Ok(self.store.list_showcase_videos(&f, page, page_size).await?)
    }

    /// One active video, its view counted for `viewer` (once per clock hour).
    pub async fn view(&self, id: &str, viewer: &Viewer) -> ApiResult<ShowcaseVideo> {
        if !is_showcase_id(id) {
            return Err(not_found(ShowcaseKind::Video, id));
        }
        let key = self.viewer_key(viewer);
        let hour = now_ms() / HOUR_MS;
        self.store
            .view_showcase_video(id, &key, hour)
            .await?
            .ok_or_else(|| not_found(ShowcaseKind::Video, id))
    }

    /// Active hero videos or trial images, in display order.
    pub async fn items<T>(
        &self,
        kind: ShowcaseKind,
        page: i64,
        size: i64,
    ) -> ApiResult<(Vec<T>, i64)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        Ok(self
            .store
            .list_showcase_items(kind, false, page, size)
            .await?)
    }

    /// The admin side, for an admin only (403 `forbidden` for anyone else).
    pub async fn admin(&self, user: &AuthUser) -> ApiResult<Admin<'_, 'a>> {
        crate::auth::require_admin(self.store, user).await?;
        Ok(Admin { s: self })
    }
}

/// The admin use cases; made by [`Showcase::admin`], so holding one proves the check.
pub struct Admin<'s, 'a> {
    s: &'s Showcase<'a>,
}

impl Admin<'_, '_> {
    /// Every video, inactive ones included, in display order.
    pub async fn videos(&self, page: i64, size: i64) -> ApiResult<(Vec<ShowcaseVideo>, i64)> {
        let f = VideoFilter {
            include_inactive: true,
            ..Default::default()
        };
        Ok(self.s.store.list_showcase_videos(&f, page, size).await?)
    }

    /// Every hero video or trial image, inactive ones included.
    pub async fn items<T>(
        &self,
        kind: ShowcaseKind,
        page: i64,
        size: i64,
    ) -> ApiResult<(Vec<T>, i64)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        Ok(self
            .s
            .store
            .list_showcase_items(kind, true, page, size)
            .await?)
    }

    pub async fn create_video(&self, input: VideoInput) -> ApiResult<ShowcaseVideo> {
        let v = input.into_new(new_id(), now_ms())?;
        self.s.store.insert_showcase_video(&v, false).await?;
        Ok(v)
    }

    pub async fn create_hero(&self, input: ItemInput) -> ApiResult<HeroVideo> {
        let h = input.into_hero(new_id(), now_ms())?;
        self.s.store.insert_hero_video(&h, false).await?;
        Ok(h)
    }

    pub async fn create_trial(&self, input: ItemInput) -> ApiResult<TrialImage> {
        let t = input.into_trial(new_id(), now_ms())?;
        self.s.store.insert_trial_image(&t, false).await?;
        Ok(t)
    }

    /// Changes the given fields (`active: false` deactivates).
    pub async fn update_video(&self, id: &str, input: VideoInput) -> ApiResult<ShowcaseVideo> {
        let kind = ShowcaseKind::Video;
        if !is_showcase_id(id) {
            return Err(not_found(kind, id));
        }
        let patch = input.into_patch()?;
        // A promoted video whose files are replaced: its copies of them go.
        let old = match patch.video_url.is_some() || patch.poster_url.is_some() {
            true => self.s.store.get_showcase(kind, id, true).await.ok(),
            false => None,
        };
        let r = self
            .s
            .store
            .update_showcase_video(id, &patch, now_ms())
            .await;
        let new = found(kind, id, r)?;
        if let Some(old) = old {
            promote::remove_replaced(self.s.media, &old, &new).await;
        }
        Ok(new)
    }

    /// Changes the given fields of a hero video or trial image.
    pub async fn update_item<T>(
        &self,
        kind: ShowcaseKind,
        id: &str,
        input: ItemInput,
    ) -> ApiResult<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if !is_showcase_id(id) {
            return Err(not_found(kind, id));
        }
        let patch = input.into_patch(kind)?;
        let r = self
            .s
            .store
            .update_showcase_item(kind, id, &patch, now_ms())
            .await;
        found(kind, id, r)
    }

    /// Deletes an item; a promoted video's copied files go with it.
    pub async fn delete(&self, kind: ShowcaseKind, id: &str) -> ApiResult<()> {
        if !is_showcase_id(id) {
            return Err(not_found(kind, id));
        }
        let gone = if kind == ShowcaseKind::Video {
            match self.s.store.delete_showcase_video(id).await? {
                Some(v) => {
                    promote::remove_copies(self.s.media, &v).await;
                    true
                }
                None => false,
            }
        } else {
            self.s.store.delete_showcase_item(kind, id).await?
        };
        if gone {
            Ok(())
        } else {
            Err(not_found(kind, id))
        }
    }

    /// Puts the listed items first, in the listed order (`order` 0, 1, 2, …); items not
    /// listed keep their `order`. All or nothing: an unknown id changes nothing (404).
    pub async fn reorder(&self, kind: ShowcaseKind, ids: &[String]) -> ApiResult<()> {
        if ids.is_empty() || ids.len() > REORDER_MAX {
            return Err(ApiError::field(
                "ids",
                format!("must list 1 to {REORDER_MAX} ids"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
            let dup: String = dup.chars().take(80).collect();
            return Err(ApiError::field("ids", format!("{dup} is listed twice")));
        }
        if let Some(bad) = ids.iter().find(|id| !is_showcase_id(id)) {
            return Err(not_found(kind, bad));
        }
        match self.s.store.reorder_showcase(kind, ids, now_ms()).await? {
            Some(missing) => Err(not_found(kind, &missing)),
            None => Ok(()),
        }
    }

    /// Puts a user's completed task into the showcase (see [`promote`]).
    pub async fn promote(&self, task_id: &str, input: PromoteInput) -> ApiResult<ShowcaseVideo> {
        promote::promote(self.s.store, self.s.media, task_id, input).await
    }
}

/// Deletes view rows older than the previous clock hour (only the current hour decides
/// whether a view counts; the previous one is kept for nodes whose clocks lag a little).
/// Returns how many were deleted.
pub async fn prune_views(store: &Store, now: i64) -> StoreResult<u64> {
    let cutoff = now / HOUR_MS - 1;
    let mut total = 0;
    loop {
        let n = store.prune_showcase_views(cutoff, PRUNE_BATCH).await?;
        total += n;
        if n < PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn viewer_keys_hide_addresses_and_group_ipv6_by_64() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(
            &format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
            1,
        )
        .await
        .unwrap();
        let secret = Secret::new("fake-test-secret");
        let urls = crate::media::MediaUrls::new(&secret, &Default::default());
        let storage = crate::media::Storage::local(dir.path()).unwrap();
        let media = MediaStore::new(storage, urls, &Default::default());
        let s = Showcase::new(&store, &media, &secret);
        let key = |ip: &str| s.viewer_key(&Viewer::Ip(ip.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert!(!key("192.0.2.1").contains("192"), "{}", key("192.0.2.1"));
        let other = Showcase::new(&store, &media, &Secret::new("another-fake-secret"));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_ne!(key("192.0.2.1"), other.viewer_key(&Viewer::Ip(ip)));
        assert_eq!(s.viewer_key(&Viewer::User("u1".into())), "u:u1");
    }
}
