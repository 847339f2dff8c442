-- The public showcase: videos on the home page, hero (carousel) videos and trial images.
-- Flags are BIGINT 0/1 (both dialects decode them the same through sqlx's Any driver).
CREATE TABLE showcase_videos (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL,
    video_url TEXT NOT NULL,
    poster_url TEXT,
    duration BIGINT NOT NULL,
    quality TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    featured BIGINT NOT NULL DEFAULT 0,
    sort_order BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    view_count BIGINT NOT NULL DEFAULT 0,
    like_count BIGINT NOT NULL DEFAULT 0,
    -- The user's task this video was promoted from (one promotion per task).
    source_task_id TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX showcase_videos_public ON showcase_videos (active, sort_order, id);

CREATE TABLE showcase_hero_videos (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    video_url TEXT NOT NULL,
    poster_url TEXT,
    sort_order BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE showcase_trial_images (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    category TEXT NOT NULL,
    sort_order BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Who viewed which video in which clock hour (Unix ms / 3 600 000): a view counts once per
-- viewer and hour. Rows older than the previous hour are pruned by housekeeping.
CREATE TABLE showcase_views (
    video_id TEXT NOT NULL REFERENCES showcase_videos(id) ON DELETE CASCADE,
    viewer TEXT NOT NULL,
    hour BIGINT NOT NULL,
    PRIMARY KEY (video_id, viewer, hour)
);
CREATE INDEX showcase_views_hour ON showcase_views (hour);
