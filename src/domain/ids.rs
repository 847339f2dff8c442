//! Ids the service makes: `video_<uuid v7>` for tasks (time-ordered, so newest-first lists
//! and logs sort by id too).

/// A new task id.
pub fn new_video_id() -> String {
    format!("video_{}", uuid::Uuid::now_v7())
}

/// Whether `raw` has the shape of a task id (`video_` + a UUID), checked before any lookup.
pub fn is_video_id(raw: &str) -> bool {
    raw.strip_prefix("video_")
        .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_the_shape_they_are_checked_for() {
        assert!(is_video_id(&new_video_id()));
        for bad in [
            "",
            "video_",
            "video_123",
            "task_0190a5c3-5e7b-7c2a-9d1e-3f4a5b6c7d8e",
            "video_0190a5c3-5e7b-7c2a-9d1e-3f4a5b6c7d8e/x",
        ] {
            assert!(!is_video_id(bad), "{bad}");
        }
    }
}
