//! Plans (`free`, `basic`, `pro`) and a user's subscription to one.

use serde::Serialize;

const DAY_MS: i64 = 24 * 3600 * 1000;

pub const PLANS: [&str; 3] = ["free", "basic", "pro"];
pub const STATUSES: [&str; 3] = ["active", "cancelled", "expired"];

/// A user's plan as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub plan: String,
    pub status: String,
    /// Unix ms; `None` never ends (the free plan).
    pub ends_at: Option<i64>,
}

/// Days as milliseconds after `now`, or `None` for 0 (never).
pub fn expiry_after(now: i64, days: i64) -> Option<i64> {
    (days > 0).then(|| now.saturating_add(days.saturating_mul(DAY_MS)))
}
