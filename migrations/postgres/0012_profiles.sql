-- Profiles (issue 10): what a user shows of themselves, and whether they appear in the
-- public "recent users" list (opt-in, off by default). display_name and avatar_url stay
-- nullable: a Google sign-in may fill them later, a password sign-up leaves them empty.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN avatar_url TEXT;
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
-- 0 or 1 (BIGINT, as everywhere else, so one query binds the same on both dialects).
ALTER TABLE users ADD COLUMN show_in_recent BIGINT NOT NULL DEFAULT 0;
-- GET /api/users/recent reads the newest listed users only.
CREATE INDEX users_recent ON users (created_at) WHERE show_in_recent = 1 AND display_name IS NOT NULL;
