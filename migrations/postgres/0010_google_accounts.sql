-- Google sign-in and account deletion (issue 10).
-- google_sub: the Google account (`sub` of its ID tokens) a user signs in with; NULL for
-- password-only users and for deleted accounts. google_login_at: the last Google sign-in
-- (Unix ms), for the re-authentication window of account deletion. deleted_at: when the
-- account was deleted; its personal fields are erased then, the row stays as a tombstone
-- so the credit ledger keeps referring to a user.
ALTER TABLE users ADD COLUMN google_sub TEXT;
ALTER TABLE users ADD COLUMN google_login_at BIGINT;
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
CREATE UNIQUE INDEX users_google_sub ON users (google_sub);
