-- Users, refresh tokens, tasks and the per-task event log.
-- Ids are TEXT, times are Unix milliseconds (BIGINT), so both dialects share every query.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    external_id TEXT,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    seconds BIGINT NOT NULL,
    size TEXT NOT NULL,
    quality TEXT NOT NULL,
    reference_image_url TEXT,
    input_image TEXT,
    webhook_url TEXT,
    status TEXT NOT NULL,
    progress BIGINT NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL,
    message TEXT,
    error_code TEXT,
    error_message TEXT,
    video_url TEXT,
    thumbnail_url TEXT,
    duration BIGINT,
    resolution TEXT,
    credits_charged BIGINT NOT NULL DEFAULT 0,
    credits_refunded BIGINT NOT NULL DEFAULT 0,
    retry_of TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT,
    -- poller: due time while the task is open (NULL once terminal), lease holder and expiry
    next_poll_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    poll_attempts BIGINT NOT NULL DEFAULT 0,
    provider_expires_at BIGINT
);
CREATE INDEX tasks_user_created ON tasks (user_id, created_at DESC);
CREATE INDEX tasks_due ON tasks (next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE task_events (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
