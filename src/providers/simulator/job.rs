//! A simulated job, described entirely by its id: creation time, duration, fate, model,
//! seconds and size. Its state at any moment follows from the clock alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::providers::wire::{VideoObject, WireError};

/// Finished content stays downloadable this long, like the real API's `expires_at`.
pub(super) const EXPIRES_AFTER_MS: i64 = 3_600_000;

/// Everything about a job, carried in its id.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Spec {
    /// Created at (Unix ms).
    pub(super) t: i64,
    /// Duration (ms).
    pub(super) d: i64,
    /// Fails halfway.
    pub(super) f: bool,
    pub(super) m: String,
    pub(super) s: i64,
    pub(super) z: String,
    /// Makes ids of identical jobs created in the same millisecond differ.
    pub(super) n: u32,
}

const ID_PREFIX: &str = "video_sim_";

impl Spec {
    pub(super) fn id(&self) -> String {
        let raw = serde_json::to_vec(self).unwrap_or_default();
        format!("{ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    pub(super) fn parse(id: &str) -> Option<Spec> {
        let raw = URL_SAFE_NO_PAD.decode(id.strip_prefix(ID_PREFIX)?).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    pub(super) fn completed_at(&self) -> i64 {
        self.t + self.d
    }

    /// The job as the API shows it at `now`.
    pub(super) fn video(&self, id: &str, now: i64) -> VideoObject {
        let elapsed = (now - self.t).max(0);
        let pct = |e: i64| {
            if self.d == 0 {
                100
            } else {
                (e * 100 / self.d).min(100)
            }
        };
        let (status, progress) = if self.f && elapsed * 2 >= self.d {
            ("failed", pct(self.d / 2))
        } else if elapsed >= self.d {
            ("completed", 100)
        } else if elapsed * 10 < self.d {
            ("queued", 0)
        } else {
            ("in_progress", pct(elapsed).min(99))
        };
        let done = status == "completed";
        VideoObject {
            id: id.to_string(),
            object: "video".into(),
            status: status.into(),
            progress: Some(progress as f64),
            created_at: Some(self.t / 1000),
            completed_at: done.then(|| self.completed_at() / 1000),
            expires_at: done.then(|| (self.completed_at() + EXPIRES_AFTER_MS) / 1000),
            model: Some(self.m.clone()),
            seconds: Some(json!(self.s.to_string())),
            size: Some(self.z.clone()),
            error: (status == "failed").then(|| WireError {
                code: Some("simulated_failure".into()),
                message: Some(
                    "the simulator failed this job because its prompt contains [fail]".into(),
                ),
            }),
        }
    }

    pub(super) fn poll_after_ms(&self) -> i64 {
        (self.d / 10).clamp(100, 5_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fail: bool) -> Spec {
        Spec {
            t: 1_000_000,
            d: 10_000,
            f: fail,
            m: "sora-2".into(),
            s: 4,
            z: "720x1280".into(),
            n: 7,
        }
    }

    #[test]
    fn ids_round_trip_and_jobs_follow_the_clock() {
        let s = spec(false);
        let id = s.id();
        let back = Spec::parse(&id).unwrap();
        assert_eq!((back.t, back.d, back.n), (s.t, s.d, 7));
        let at = |ms| {
            let v = s.video(&id, s.t + ms);
            (v.status, v.progress.unwrap() as i64)
        };
        assert_eq!(at(0), ("queued".into(), 0));
        assert_eq!(at(5_000), ("in_progress".into(), 50));
        assert_eq!(at(9_999), ("in_progress".into(), 99));
        assert_eq!(at(10_000), ("completed".into(), 100));
        let wire = serde_json::to_value(s.video(&id, s.t + 5_000)).unwrap();
        assert_eq!(
            (wire["progress"].clone(), wire["seconds"].clone()),
            (json!(50), json!("4"))
        );
        assert!(Spec::parse("video_sim_!!").is_none());
    }

    #[test]
    fn fail_jobs_fail_halfway_with_an_error() {
        let s = spec(true);
        let v = s.video("x", s.t + 6_000);
        assert_eq!(v.status, "failed");
        assert_eq!(v.error.unwrap().code.as_deref(), Some("simulated_failure"));
        assert_eq!(s.video("x", s.t + 2_000).status, "in_progress");
    }
}
