-- Billing: plans, the credit ledger (lots + transactions), payments, Stripe events, API keys.
-- Invariant kept by src/store/ledger.rs: users.credits = SUM(credit_transactions.amount)
-- = SUM(credit_lots.remaining) for every user.
ALTER TABLE users ADD COLUMN credits BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0);
-- Bumped by every balance movement; gives each ledger row its per-user `seq`.
ALTER TABLE users ADD COLUMN ledger_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';
ALTER TABLE users ADD COLUMN plan_status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE users ADD COLUMN plan_ends_at BIGINT;

-- Credits as lots: where they came from, what is left, when they expire.
CREATE TABLE credit_lots (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    origin TEXT NOT NULL,
    amount BIGINT NOT NULL,
    remaining BIGINT NOT NULL CHECK (remaining >= 0),
    expires_at BIGINT,
    expired_at BIGINT,
    task_id TEXT,
    payment_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX credit_lots_open ON credit_lots (user_id, expires_at) WHERE remaining > 0;
CREATE INDEX credit_lots_due ON credit_lots (expires_at) WHERE remaining > 0;

-- Every movement of a balance; amount is signed (credit > 0, debit < 0).
CREATE TABLE credit_transactions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_before BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reference_type TEXT NOT NULL,
    reference_id TEXT NOT NULL,
    description TEXT,
    task_id TEXT,
    payment_id TEXT,
    lot_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE UNIQUE INDEX credit_transactions_user_seq ON credit_transactions (user_id, seq);
-- The same movement can never be written twice (a task refunded twice, a payment granted twice).
CREATE UNIQUE INDEX credit_transactions_once ON credit_transactions (type, reference_type, reference_id);
CREATE INDEX credit_transactions_task ON credit_transactions (task_id) WHERE task_id IS NOT NULL;

-- Which lots a debit drew from (FIFO by expiry).
CREATE TABLE credit_spends (
    transaction_id TEXT NOT NULL REFERENCES credit_transactions(id) ON DELETE CASCADE,
    lot_id TEXT NOT NULL REFERENCES credit_lots(id) ON DELETE CASCADE,
    amount BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, lot_id)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    credits BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT NOT NULL,
    stripe_session_id TEXT UNIQUE,
    stripe_payment_intent TEXT,
    payment_url TEXT,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    credits_reversed BIGINT NOT NULL DEFAULT 0,
    credits_unrecovered BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX payments_user_created ON payments (user_id, created_at DESC);
CREATE INDEX payments_intent ON payments (stripe_payment_intent);

-- Stripe event ids already processed (each is handled once).
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);
