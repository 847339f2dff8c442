//! The credit ledger's rules, kept pure so they are unit-tested here; the store applies them
//! inside its transactions.
//!
//! - Spending takes from the lots that expire first (never-expiring lots last; ties by age).
//! - A refunded task's credits come back as a `refunded` lot that expires with the latest of
//!   the lots they were spent from (never, if any of those never expires), but no sooner than
//!   the refund grace period, so a refund can neither launder expiring credits into permanent
//!   ones nor hand back credits that are already dead.
//! - A (partial) payment refund takes back credits in proportion to the money refunded.

use serde::{Deserialize, Serialize};

/// Ledger row types (`credit_transactions.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxType {
    Earned,
    Spent,
    Purchased,
    Refunded,
    Bonus,
    Expired,
}

impl TxType {
    pub const ALL: [TxType; 6] = [
        TxType::Earned,
        TxType::Spent,
        TxType::Purchased,
        TxType::Refunded,
        TxType::Bonus,
        TxType::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxType::Earned => "earned",
            TxType::Spent => "spent",
            TxType::Purchased => "purchased",
            TxType::Refunded => "refunded",
            TxType::Bonus => "bonus",
            TxType::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where a lot's credits came from (`credit_lots.origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Bonus,
    Purchased,
    Earned,
    Refunded,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Bonus => "bonus",
            Origin::Purchased => "purchased",
            Origin::Earned => "earned",
            Origin::Refunded => "refunded",
        }
    }

    /// The ledger type of a grant of this origin.
    pub fn tx_type(self) -> TxType {
        match self {
            Origin::Bonus => TxType::Bonus,
            Origin::Purchased => TxType::Purchased,
            Origin::Earned => TxType::Earned,
            Origin::Refunded => TxType::Refunded,
        }
    }
}

/// An open lot as spending sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenLot {
    pub id: String,
    pub remaining: i64,
    pub expires_at: Option<i64>,
}

/// Sorts lots into spending order: soonest expiry first, never-expiring last, then by
/// `created` order as given (the caller passes lots oldest first).
pub fn fifo_order(lots: &mut [OpenLot]) {
    lots.sort_by_key(|l| (l.expires_at.is_none(), l.expires_at));
}

/// How much to take from each lot (in the given order) to spend `amount`; `None` when the
/// lots hold less than that.
pub fn allocate(lots: &[OpenLot], amount: i64) -> Option<Vec<(String, i64)>> {
    let mut left = amount;
    let mut out = Vec::new();
    for lot in lots {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        if take > 0 {
            out.push((lot.id.clone(), take));
            left -= take;
        }
    }
    (left == 0).then_some(out)
}

/// Expiry of a task refund's lot, from the expiries of the lots the task was paid from.
pub fn refund_expiry(spent_from: &[Option<i64>], now: i64, grace_ms: i64) -> Option<i64> {
    if spent_from.is_empty() || spent_from.iter().any(Option::is_none) {
        return None;
    }
    let latest = spent_from.iter().flatten().copied().max()?;
    Some(latest.max(now.saturating_add(grace_ms)))
}

/// Credits owed back once `refunded_minor` of a payment of `amount_minor` for `credits`
/// has been refunded: proportional, rounded down, all of them for a full refund.
pub fn credits_owed(credits: i64, amount_minor: i64, refunded_minor: i64) -> i64 {
    if amount_minor <= 0 || refunded_minor >= amount_minor {
        return credits;
    }
    let owed = i128::from(credits) * i128::from(refunded_minor.max(0)) / i128::from(amount_minor);
    owed as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: &str, remaining: i64, expires_at: Option<i64>) -> OpenLot {
        OpenLot {
            id: id.into(),
            remaining,
            expires_at,
        }
    }

    #[test]
    fn spends_soonest_expiry_first_and_permanent_last() {
        let mut lots = vec![
            lot("permanent", 50, None),
            lot("late", 30, Some(300)),
            lot("early", 10, Some(100)),
            lot("early-too", 10, Some(100)),
        ];
        fifo_order(&mut lots);
        let ids: Vec<_> = lots.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["early", "early-too", "late", "permanent"]);
        let plan = allocate(&lots, 45).unwrap();
        assert_eq!(
            plan,
            vec![
                ("early".to_string(), 10),
                ("early-too".to_string(), 10),
                ("late".to_string(), 25)
            ]
        );
        assert_eq!(allocate(&lots, 101), None);
        assert_eq!(allocate(&lots, 100).unwrap().len(), 4);
    }

    #[test]
    fn refund_expiry_never_launders_or_kills() {
        let grace = 7;
        assert_eq!(refund_expiry(&[Some(100), None], 0, grace), None);
        assert_eq!(refund_expiry(&[], 0, grace), None);
        assert_eq!(refund_expiry(&[Some(100), Some(200)], 0, grace), Some(200));
        assert_eq!(refund_expiry(&[Some(100)], 150, grace), Some(157));
    }

    #[test]
    fn partial_refunds_take_back_in_proportion() {
        assert_eq!(credits_owed(100, 990, 0), 0);
        assert_eq!(credits_owed(100, 990, 495), 50);
        assert_eq!(credits_owed(100, 990, 989), 99);
        assert_eq!(credits_owed(100, 990, 990), 100);
        assert_eq!(credits_owed(3000, 19900, 10000), 1507);
    }
}
