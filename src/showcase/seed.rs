//! `taskhub seed-demo`: a fixed demo showcase (four videos, two hero videos, three trial
//! images) built from files shipped in the binary ([`ASSETS`], served at [`ASSET_ROUTE`]):
//! the simulator's sample MP4 and small PNG posters and images from `assets/showcase/`.
//! Nothing is downloaded.
//!
//! Every demo row has a fixed id and is inserted only if absent, so running the command
//! again changes nothing: an item an admin edited stays edited, and one an admin deleted
//! comes back.

use crate::store::{HeroVideo, ShowcaseVideo, Store, StoreResult, TrialImage};

/// Where the shipped showcase files are served.
pub const ASSET_ROUTE: &str = "/assets/showcase";

/// The shipped files: name, bytes, content type.
pub static ASSETS: &[(&str, &[u8], &str)] = &[
    (
        "sample.mp4",
        crate::providers::simulator::SAMPLE_MP4,
        "video/mp4",
    ),
    (
        "poster-product.png",
        include_bytes!("../../assets/showcase/poster-product.png"),
        "image/png",
    ),
    (
        "poster-fashion.png",
        include_bytes!("../../assets/showcase/poster-fashion.png"),
        "image/png",
    ),
    (
        "poster-food.png",
        include_bytes!("../../assets/showcase/poster-food.png"),
        "image/png",
    ),
    (
        "poster-estate.png",
        include_bytes!("../../assets/showcase/poster-estate.png"),
        "image/png",
    ),
    (
        "trial-tech.png",
        include_bytes!("../../assets/showcase/trial-tech.png"),
        "image/png",
    ),
    (
        "trial-coffee.png",
        include_bytes!("../../assets/showcase/trial-coffee.png"),
        "image/png",
    ),
    (
        "trial-sneaker.png",
        include_bytes!("../../assets/showcase/trial-sneaker.png"),
        "image/png",
    ),
];

/// A shipped file by name.
pub fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, ct)| (*bytes, *ct))
}

/// When the demo rows say they were made (fixed, so every seeding writes the same rows).
const SEEDED_AT: i64 = 1_767_225_600_000;

fn path(file: &str) -> String {
    format!("{ASSET_ROUTE}/{file}")
}

/// How a seeding went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Rows written now.
    pub inserted: usize,
    /// Demo rows that were already there (left as they are).
    pub existing: usize,
}

/// (id, title, description, category, poster, aspect ratio, featured, likes)
type DemoVideo = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    i64,
);

const VIDEOS: [DemoVideo; 4] = [
    (
        "sc_0194a000-0000-7000-8000-000000000001",
        "Tech Product Launch",
        "A sleek device reveal with smooth camera moves.",
        "Product",
        "poster-product.png",
        "16:9",
        true,
        42,
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000002",
        "Fashion Lookbook",
        "A spring collection in soft pastel light.",
        "Fashion",
        "poster-fashion.png",
        "16:9",
        true,
        27,
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000003",
        "Morning Coffee",
        "Slow pour, rising steam, warm tones.",
        "F&B",
        "poster-food.png",
        "16:9",
        false,
        15,
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000004",
        "City Apartment Tour",
        "A vertical walk-through for social feeds.",
        "Real Estate",
        "poster-estate.png",
        "9:16",
        false,
        8,
    ),
];

const HEROES: [(&str, &str, &str); 2] = [
    (
        "sc_0194a000-0000-7000-8000-000000000101",
        "Product Launch",
        "poster-product.png",
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000102",
        "Brand Story",
        "poster-fashion.png",
    ),
];

const TRIALS: [(&str, &str, &str, &str); 3] = [
    (
        "sc_0194a000-0000-7000-8000-000000000201",
        "Tech Product",
        "trial-tech.png",
        "Tech",
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000202",
        "Coffee Cup",
        "trial-coffee.png",
        "F&B",
    ),
    (
        "sc_0194a000-0000-7000-8000-000000000203",
        "Sneaker",
        "trial-sneaker.png",
        "Fashion",
    ),
];

/// Inserts the demo rows that are missing.
pub async fn seed_demo(store: &Store) -> StoreResult<SeedReport> {
    let mut report = SeedReport::default();
    let mut count = |inserted: bool| {
        if inserted {
            report.inserted += 1
        } else {
            report.existing += 1
        }
    };
    for (i, (id, title, description, category, poster, ratio, featured, likes)) in
        VIDEOS.into_iter().enumerate()
    {
        let v = ShowcaseVideo {
            id: id.into(),
            title: title.into(),
            description: description.into(),
            category: category.into(),
            video_url: path("sample.mp4"),
            poster_url: Some(path(poster)),
            duration: 4,
            quality: "standard".into(),
            aspect_ratio: ratio.into(),
            featured: i64::from(featured),
            sort_order: i as i64,
            active: 1,
            view_count: 0,
            like_count: likes,
            source_task_id: None,
            created_at: SEEDED_AT,
            updated_at: SEEDED_AT,
        };
        count(store.insert_showcase_video(&v, true).await?);
    }
    for (i, (id, title, poster)) in HEROES.into_iter().enumerate() {
        let h = HeroVideo {
            id: id.into(),
            title: title.into(),
            video_url: path("sample.mp4"),
            poster_url: Some(path(poster)),
            sort_order: i as i64,
            active: 1,
            created_at: SEEDED_AT,
            updated_at: SEEDED_AT,
        };
        count(store.insert_hero_video(&h, true).await?);
    }
    for (i, (id, title, image, category)) in TRIALS.into_iter().enumerate() {
        let t = TrialImage {
            id: id.into(),
            title: title.into(),
            image_url: path(image),
            category: category.into(),
            sort_order: i as i64,
            active: 1,
            created_at: SEEDED_AT,
            updated_at: SEEDED_AT,
        };
        count(store.insert_trial_image(&t, true).await?);
    }
    Ok(report)
}
