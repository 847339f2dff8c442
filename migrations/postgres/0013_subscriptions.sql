-- Plans bought through Stripe Checkout (subscription mode): one row per user, the user's
-- current (or last) Stripe subscription. The plan itself stays on users (plan, plan_status,
-- plan_ends_at), which the generate check reads; this row links it to Stripe.
CREATE TABLE subscriptions (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    -- basic | pro
    plan TEXT NOT NULL,
    -- pending (checkout opened) | active | past_due | cancelled | lapsed
    status TEXT NOT NULL,
    stripe_customer_id TEXT,
    stripe_subscription_id TEXT,
    -- The last Checkout Session opened for this user.
    checkout_session_id TEXT,
    -- Unix ms: the end of the paid period (from the last paid invoice).
    current_period_end BIGINT,
    -- 1 when the subscription ends at current_period_end instead of renewing.
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_stripe_id ON subscriptions (stripe_subscription_id);
CREATE INDEX subscriptions_session ON subscriptions (checkout_session_id);
CREATE INDEX subscriptions_period_end ON subscriptions (current_period_end);
