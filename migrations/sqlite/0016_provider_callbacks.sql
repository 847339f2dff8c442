-- Provider callbacks and remix (issue 11): incoming provider webhooks are found by the provider's job
-- id, and each webhook id is settled once (a replay is a no-op).
CREATE INDEX tasks_external_id ON tasks (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE provider_webhook_receipts (
    webhook_id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE INDEX provider_webhook_receipts_received ON provider_webhook_receipts (received_at);

-- A remix task names the completed task it remixes.
ALTER TABLE tasks ADD COLUMN remix_of TEXT;

-- A callback provider's per-task callback URL holds a random token; only its SHA-256 (hex)
-- is stored, to find the task when the callback arrives.
ALTER TABLE tasks ADD COLUMN callback_token_hash TEXT;
CREATE INDEX tasks_callback_token ON tasks (callback_token_hash) WHERE callback_token_hash IS NOT NULL;
