-- Numeric aliases for the compat adapters (src/compat/): the APIs taskhub stands in for give
-- users, videos and showcase items integer ids, taskhub's own ids are text. One row per
-- (kind, native id), numbered once, never reused; the native id stays the truth.
CREATE TABLE compat_ids (
    num INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    native_id TEXT NOT NULL,
    UNIQUE (kind, native_id)
);
