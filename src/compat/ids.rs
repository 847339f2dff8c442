//! Integer ids for the adapted APIs, which number their users, videos and showcase items:
//! each native id gets a numeric alias the first time an adapter shows it (see
//! `store::compat_ids`). A number that names nothing of the caller's is "not found", like a
//! missing one.

use crate::store::{Store, StoreResult};

/// The kinds of thing that get numbers (each kind numbers on its own; numbers are unique
/// across kinds too, as one sequence serves them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Task,
    ShowcaseVideo,
    HeroVideo,
    TrialImage,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Task => "task",
            Kind::ShowcaseVideo => "showcase_video",
            Kind::HeroVideo => "hero_video",
            Kind::TrialImage => "trial_image",
        }
    }
}

/// The number of `native_id`.
pub async fn number(store: &Store, kind: Kind, native_id: &str) -> StoreResult<i64> {
    store.compat_number(kind.as_str(), native_id).await
}

/// The numbers of several ids of one kind, in their order.
pub async fn numbers(store: &Store, kind: Kind, native_ids: &[&str]) -> StoreResult<Vec<i64>> {
    let map = store.compat_numbers(kind.as_str(), native_ids).await?;
    Ok(native_ids
        .iter()
        .map(|id| map.get(*id).copied().unwrap_or_default())
        .collect())
}

/// The native id numbered `num`, if any.
pub async fn native(store: &Store, kind: Kind, num: i64) -> StoreResult<Option<String>> {
    store.compat_native(kind.as_str(), num).await
}
