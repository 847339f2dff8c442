-- User uploads (issue 11): files a user uploaded through POST /api/uploads, kept under
-- `user-uploads/upl_<uuid>.<ext>` in the store. The per-user quota sums `bytes`; a task
-- made from an upload gets its own copy, so deleting an upload never breaks a task.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    storage_key TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    width BIGINT,
    height BIGINT,
    filename TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX uploads_user ON uploads (user_id, created_at);
