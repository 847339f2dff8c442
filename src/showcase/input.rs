//! What an admin may put into the showcase, checked field by field. Every refusal is a 422
//! `validationFailed` naming each bad field (`error.fields`), so a form can mark them all.
//!
//! Decisions (the issue left them open): `category` is free text (1–40 characters, no
//! control characters; the reference frontends use `Product`, `F&B`, `Real Estate`, …), so
//! a new category needs no release; `quality` is `standard` or `hd` (a task's qualities);
//! `aspectRatio` is `W:H` with whole numbers 1–9999 (`16:9`, `9:16`, `1:1`); URLs are
//! `http(s)://host/…` without credentials, or a site path under `/media/` or `/assets/`.

use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::store::{HeroVideo, ItemPatch, ShowcaseKind, ShowcaseVideo, TrialImage, VideoPatch};

pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 2000;
pub const CATEGORY_MAX: usize = 40;
/// Longer URLs break in some browsers and proxies; no real asset URL needs more.
pub const URL_MAX: usize = 2048;
/// The longest video a showcase shows (10 minutes); tasks are far shorter.
pub const DURATION_MAX: i64 = 600;
/// Display positions; a bound, so a typo cannot push an item out of every page's reach.
pub const ORDER_MAX: i64 = 1_000_000;
pub const QUALITIES: [&str; 2] = ["standard", "hd"];

/// A showcase video as an admin sends it: for a create (required fields must be there) or
/// an update (only the given fields change). `None` = not given.
#[derive(Clone, Debug, Default)]
pub struct VideoInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub video_url: Option<String>,
    pub poster_url: Option<String>,
    pub duration: Option<i64>,
    pub quality: Option<String>,
    pub aspect_ratio: Option<String>,
    pub featured: Option<bool>,
    pub order: Option<i64>,
    pub active: Option<bool>,
}

/// A hero video (`url` = video, `extra` = poster) or a trial image (`url` = image,
/// `extra` = category), for a create or an update.
#[derive(Clone, Debug, Default)]
pub struct ItemInput {
    pub title: Option<String>,
    pub url: Option<String>,
    pub extra: Option<String>,
    pub order: Option<i64>,
    pub active: Option<bool>,
}

/// Collects field errors; [`Checker::finish`] turns any into one 422.
#[derive(Default)]
struct Checker(FieldErrors);

impl Checker {
    fn fail(&mut self, field: &str, msg: impl Into<String>) {
        self.0.push((field.to_string(), msg.into()));
    }

    /// Trimmed text of `min..=max` characters without control characters (`multiline`
    /// allows line breaks and tabs).
    fn text(
        &mut self,
        field: &str,
        v: Option<String>,
        min: usize,
        max: usize,
        multiline: bool,
    ) -> Option<String> {
        let v = v?.trim().to_string();
        let n = v.chars().count();
        let bad = v
            .chars()
            .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
        if n < min || n > max {
            self.fail(field, format!("must be {min} to {max} characters"));
        } else if bad {
            self.fail(field, "must not contain control characters");
        }
        Some(v)
    }

    fn url(&mut self, field: &str, v: Option<String>) -> Option<String> {
        let v = v?;
        if let Err(msg) = check_url(&v) {
            self.fail(field, msg);
        }
        Some(v)
    }

    fn range(&mut self, field: &str, v: Option<i64>, min: i64, max: i64) -> Option<i64> {
        let v = v?;
        if !(min..=max).contains(&v) {
            self.fail(field, format!("must be a whole number from {min} to {max}"));
        }
        Some(v)
    }

    fn one_of(&mut self, field: &str, v: Option<String>, allowed: &[&str]) -> Option<String> {
        let v = v?;
        if !allowed.contains(&v.as_str()) {
            self.fail(field, format!("must be one of {}", allowed.join(", ")));
        }
        Some(v)
    }

    fn ratio(&mut self, field: &str, v: Option<String>) -> Option<String> {
        let v = v?;
        if !is_aspect_ratio(&v) {
            self.fail(
                field,
                "must be W:H with whole numbers from 1 to 9999, like 16:9",
            );
        }
        Some(v)
    }

    fn require<T>(&mut self, field: &str, v: &Option<T>) {
        if v.is_none() {
            self.fail(field, "is required");
        }
    }

    fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// `http(s)://host/…` (no user or password) or a site path under `/media/` or `/assets/`.
pub fn check_url(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > URL_MAX {
        return Err(format!("must be 1 to {URL_MAX} bytes"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if v.starts_with('/') {
        let safe = v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/%".contains(c));
        let under = v.starts_with("/media/") || v.starts_with("/assets/");
        return if under && safe && !v.contains("..") && !v.contains("//") {
            Ok(())
        } else {
            Err(
                "a site path must be under /media/ or /assets/, of letters, digits and -._~/%"
                    .into(),
            )
        };
    }
    match url::Url::parse(v) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none() =>
        {
            Ok(())
        }
        _ => Err("must be an http(s) URL with a host and no credentials, or a site path".into()),
    }
}

/// `W:H`, each a whole number from 1 to 9999 without sign or leading zero.
pub fn is_aspect_ratio(v: &str) -> bool {
    let Some((w, h)) = v.split_once(':') else {
        return false;
    };
    let part = |s: &str| {
        (1..=4).contains(&s.len()) && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())
    };
    part(w) && part(h)
}

impl VideoInput {
    fn checked(self, c: &mut Checker) -> VideoPatch {
        VideoPatch {
            title: c.text("title", self.title, 1, TITLE_MAX, false),
            description: c.text("description", self.description, 0, DESCRIPTION_MAX, true),
            category: c.text("category", self.category, 1, CATEGORY_MAX, false),
            video_url: c.url("videoUrl", self.video_url),
            poster_url: c.url("posterUrl", self.poster_url),
            duration: c.range("duration", self.duration, 1, DURATION_MAX),
            quality: c.one_of("quality", self.quality, &QUALITIES),
            aspect_ratio: c.ratio("aspectRatio", self.aspect_ratio),
            featured: self.featured,
            sort_order: c.range("order", self.order, 0, ORDER_MAX),
            active: self.active,
        }
    }

    /// The changes of an update; at least one field must be given.
    pub fn into_patch(self) -> ApiResult<VideoPatch> {
        let mut c = Checker::default();
        let p = self.checked(&mut c);
        c.finish()?;
        let empty = p.title.is_none()
            && p.description.is_none()
            && p.category.is_none()
            && p.video_url.is_none()
            && p.poster_url.is_none()
            && p.duration.is_none()
            && p.quality.is_none()
            && p.aspect_ratio.is_none()
            && p.featured.is_none()
            && p.sort_order.is_none()
            && p.active.is_none();
        if empty {
            return Err(ApiError::field("body", "give at least one field to change"));
        }
        Ok(p)
    }

    /// A new video: `title`, `category`, `videoUrl`, `duration` and `aspectRatio` are
    /// required; `quality` defaults to `standard`, `order` to 0, `active` to true.
    pub fn into_new(self, id: String, now: i64) -> ApiResult<ShowcaseVideo> {
        let mut c = Checker::default();
        let p = self.checked(&mut c);
        c.require("title", &p.title);
        c.require("category", &p.category);
        c.require("videoUrl", &p.video_url);
        c.require("duration", &p.duration);
        c.require("aspectRatio", &p.aspect_ratio);
        c.finish()?;
        Ok(ShowcaseVideo {
            id,
            title: p.title.unwrap_or_default(),
            description: p.description.unwrap_or_default(),
            category: p.category.unwrap_or_default(),
            video_url: p.video_url.unwrap_or_default(),
            poster_url: p.poster_url,
            duration: p.duration.unwrap_or(1),
            quality: p.quality.unwrap_or_else(|| "standard".into()),
            aspect_ratio: p.aspect_ratio.unwrap_or_default(),
            featured: i64::from(p.featured.unwrap_or(false)),
            sort_order: p.sort_order.unwrap_or(0),
            active: i64::from(p.active.unwrap_or(true)),
            view_count: 0,
            like_count: 0,
            source_task_id: None,
            created_at: now,
            updated_at: now,
        })
    }
}

impl ItemInput {
    /// The names of `url` and `extra` in `kind`'s JSON.
    fn names(kind: ShowcaseKind) -> (&'static str, &'static str) {
        match kind {
            ShowcaseKind::Trial => ("imageUrl", "category"),
            _ => ("videoUrl", "posterUrl"),
        }
    }

    fn checked(self, kind: ShowcaseKind, c: &mut Checker) -> ItemPatch {
        let (url, extra) = Self::names(kind);
        ItemPatch {
            title: c.text("title", self.title, 1, TITLE_MAX, false),
            url: c.url(url, self.url),
            extra: match kind {
                ShowcaseKind::Trial => c.text(extra, self.extra, 1, CATEGORY_MAX, false),
                _ => c.url(extra, self.extra),
            },
            sort_order: c.range("order", self.order, 0, ORDER_MAX),
            active: self.active,
        }
    }

    /// The changes of an update; at least one field must be given.
    pub fn into_patch(self, kind: ShowcaseKind) -> ApiResult<ItemPatch> {
        let mut c = Checker::default();
        let p = self.checked(kind, &mut c);
        c.finish()?;
        let empty = p.title.is_none()
            && p.url.is_none()
            && p.extra.is_none()
            && p.sort_order.is_none()
            && p.active.is_none();
        if empty {
            return Err(ApiError::field("body", "give at least one field to change"));
        }
        Ok(p)
    }

    /// A new item's checked fields: `title` and the URL are required, and a trial image's
    /// `category`.
    fn into_new(self, kind: ShowcaseKind) -> ApiResult<ItemPatch> {
        let (url, extra) = Self::names(kind);
        let mut c = Checker::default();
        let p = self.checked(kind, &mut c);
        c.require("title", &p.title);
        c.require(url, &p.url);
        if kind == ShowcaseKind::Trial {
            c.require(extra, &p.extra);
        }
        c.finish()?;
        Ok(p)
    }

    pub fn into_hero(self, id: String, now: i64) -> ApiResult<HeroVideo> {
        let p = self.into_new(ShowcaseKind::Hero)?;
        Ok(HeroVideo {
            id,
            title: p.title.unwrap_or_default(),
            video_url: p.url.unwrap_or_default(),
            poster_url: p.extra,
            sort_order: p.sort_order.unwrap_or(0),
            active: i64::from(p.active.unwrap_or(true)),
            created_at: now,
            updated_at: now,
        })
    }

    pub fn into_trial(self, id: String, now: i64) -> ApiResult<TrialImage> {
        let p = self.into_new(ShowcaseKind::Trial)?;
        Ok(TrialImage {
            id,
            title: p.title.unwrap_or_default(),
            image_url: p.url.unwrap_or_default(),
            category: p.extra.unwrap_or_default(),
            sort_order: p.sort_order.unwrap_or(0),
            active: i64::from(p.active.unwrap_or(true)),
            created_at: now,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_web_or_site_paths() {
        for ok in [
            "https://cdn.example.com/a.mp4",
            "http://localhost:8080/x.jpg?v=1",
            "/assets/showcase/sample.mp4",
            "/media/video_x.mp4",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "javascript:alert(1)",
            "ftp://x/y",
            "https://user:pw@example.com/",
            "/etc/passwd",
            "/assets/../secret",
            "//evil.example/x",
            "https://example.com/a b",
            "data:image/png;base64,AAAA",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(URL_MAX))).is_err());
    }

    #[test]
    fn aspect_ratios() {
        for ok in ["16:9", "9:16", "1:1", "4:3", "9999:1"] {
            assert!(is_aspect_ratio(ok), "{ok}");
        }
        for bad in [
            "", "16", "16:", ":9", "0:1", "16:09", "-1:2", "10000:1", "16x9", "a:b",
        ] {
            assert!(!is_aspect_ratio(bad), "{bad}");
        }
    }

    #[test]
    fn a_create_names_every_missing_and_bad_field() {
        let input = VideoInput {
            title: Some(" ".into()),
            duration: Some(601),
            quality: Some("4k".into()),
            ..Default::default()
        };
        let Err(ApiError::Validation(fields)) = input.into_new("sc_x".into(), 0) else {
            panic!("expected a validation error");
        };
        let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "title",
            "duration",
            "quality",
            "category",
            "videoUrl",
            "aspectRatio",
        ] {
            assert!(names.contains(&f), "{f} in {names:?}");
        }
    }
}
