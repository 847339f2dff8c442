-- `Idempotency-Key` on task creation: a client that repeats a POST whose answer it lost gets
-- the task it made the first time instead of a second one (and a second charge). The key is
-- the user's (unique per user), bound to the task for as long as the task exists; the
-- fingerprint (SHA-256 of the request's task fields) tells a repeat from a different request
-- that reuses the key.
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
ALTER TABLE tasks ADD COLUMN idempotency_fingerprint TEXT;
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
