//! The credit ledger invariant, checked after every billing scenario:
//!
//! - per user, `users.credits` = SUM(transactions.amount) = SUM(lots.remaining) >= 0;
//! - each user's rows form one chain: seq 1..n, each `balanceBefore` is the previous
//!   `balanceAfter` (0 first), `balanceAfter = balanceBefore + amount`, never negative;
//! - every lot's used part is exactly what debits drew from it (spends + expiry);
//! - every debit that draws from lots (`spent`, payment take-backs) drew exactly its amount;
//! - every task's `creditsCharged`/`creditsRefunded` match its ledger rows.

use std::collections::HashMap;

use crate::helpers::TestApp;

type Row = (String, i64, String, i64, i64, i64);

pub async fn assert_ledger_invariant(app: &TestApp) {
    let pool = app.state.store.pool();
    let users: Vec<(String, i64)> = sqlx::query_as("SELECT id, credits FROM users")
        .fetch_all(pool)
        .await
        .unwrap();
    let lots: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT id, user_id, amount, remaining FROM credit_lots")
            .fetch_all(pool)
            .await
            .unwrap();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT user_id, seq, type, amount, balance_before, balance_after
         FROM credit_transactions ORDER BY user_id, seq",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (user, credits) in &users {
        assert!(*credits >= 0, "user {user}: negative balance {credits}");
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.0 == user).collect();
        let sum_tx: i64 = mine.iter().map(|r| r.3).sum();
        let sum_lots: i64 = lots.iter().filter(|l| &l.1 == user).map(|l| l.3).sum();
        assert_eq!(
            (*credits, *credits),
            (sum_tx, sum_lots),
            "user {user}: balance = sum of transactions = sum of lot remainders"
        );
        let mut before = 0;
        for (i, (_, seq, ty, amount, b, a)) in mine.iter().enumerate() {
            assert_eq!(*seq, i as i64 + 1, "user {user}: seq has no gaps");
            assert_eq!(*b, before, "user {user} seq {seq} ({ty}): chain");
            assert_eq!(
                *a,
                b + amount,
                "user {user} seq {seq}: after = before + amount"
            );
            assert!(*a >= 0, "user {user} seq {seq}: never negative");
            before = *a;
        }
        assert_eq!(
            before, *credits,
            "user {user}: last balanceAfter is the balance"
        );
    }
    let drawn: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT lot_id, CAST(SUM(amount) AS BIGINT) FROM credit_spends GROUP BY lot_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let expired: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT lot_id, CAST(-SUM(amount) AS BIGINT) FROM credit_transactions
         WHERE type = 'expired' GROUP BY lot_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    for (id, _, amount, remaining) in &lots {
        assert!(
            (0..=*amount).contains(remaining),
            "lot {id}: 0 <= remaining <= amount"
        );
        let used = drawn.get(id).copied().unwrap_or(0) + expired.get(id).copied().unwrap_or(0);
        assert_eq!(
            amount - remaining,
            used,
            "lot {id}: used part = what debits drew"
        );
    }
    let short: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT t.id, t.amount, CAST(COALESCE(SUM(s.amount), 0) AS BIGINT)
         FROM credit_transactions t LEFT JOIN credit_spends s ON s.transaction_id = t.id
         WHERE t.type = 'spent' OR (t.type = 'refunded' AND t.amount < 0)
         GROUP BY t.id, t.amount",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (id, amount, from_lots) in short {
        assert_eq!(
            -amount, from_lots,
            "debit {id} drew exactly its amount from lots"
        );
    }
    let tasks: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT k.id, k.credits_charged, k.credits_refunded,
            CAST(COALESCE(SUM(CASE WHEN t.type = 'spent' THEN -t.amount ELSE 0 END), 0) AS BIGINT),
            CAST(COALESCE(SUM(CASE WHEN t.type = 'refunded' THEN t.amount ELSE 0 END), 0) AS BIGINT)
         FROM tasks k LEFT JOIN credit_transactions t ON t.task_id = k.id
         GROUP BY k.id, k.credits_charged, k.credits_refunded",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (id, charged, refunded, spent, back) in tasks {
        assert_eq!(
            (charged, refunded),
            (spent, back),
            "task {id}: charge and refund rows"
        );
    }
}
