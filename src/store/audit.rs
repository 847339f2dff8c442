//! The credit ledger invariant, read back from the database and reported as a list of
//! violations (empty when the books are straight). The billing tests assert it after every
//! scenario; the chaos run (`src/bin/chaos`) checks it after many faults at once.
//!
//! - per user, `users.credits` = SUM(transactions.amount) = SUM(lots.remaining) >= 0;
//! - each user's rows form one chain: seq 1..n, each `balanceBefore` is the previous
//!   `balanceAfter` (0 first), `balanceAfter = balanceBefore + amount`, never negative;
//! - every lot's used part is exactly what debits drew from it (spends + expiry);
//! - every debit that draws from lots (`spent`, payment take-backs) drew exactly its amount;
//! - every task's `creditsCharged`/`creditsRefunded` match its ledger rows, with at most one
//!   charge and at most one refund row per task.

use std::collections::HashMap;

use super::{Store, StoreResult};

/// `(user_id, seq, type, amount, balance_before, balance_after)`
type Row = (String, i64, String, i64, i64, i64);

impl Store {
    /// Every way the ledger breaks its invariant, one line each (empty: none).
    pub async fn ledger_audit(&self) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        self.audit_balances(&mut out).await?;
        self.audit_lots(&mut out).await?;
        self.audit_tasks(&mut out).await?;
        Ok(out)
    }

    async fn audit_balances(&self, out: &mut Vec<String>) -> StoreResult<()> {
        let pool = self.pool();
        let users: Vec<(String, i64)> = sqlx::query_as("SELECT id, credits FROM users")
            .fetch_all(pool)
            .await?;
        let lots: Vec<(String, i64)> = sqlx::query_as("SELECT user_id, remaining FROM credit_lots")
            .fetch_all(pool)
            .await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT user_id, seq, type, amount, balance_before, balance_after
             FROM credit_transactions ORDER BY user_id, seq",
        )
        .fetch_all(pool)
        .await?;
        let mut by_user: HashMap<&str, Vec<&Row>> = HashMap::new();
        for r in &rows {
            by_user.entry(r.0.as_str()).or_default().push(r);
        }
        let mut lot_sums: HashMap<&str, i64> = HashMap::new();
        for (user, remaining) in &lots {
            *lot_sums.entry(user.as_str()).or_default() += remaining;
        }
        for (user, credits) in &users {
            let mine = by_user.remove(user.as_str()).unwrap_or_default();
            let sum_tx: i64 = mine.iter().map(|r| r.3).sum();
            let sum_lots = lot_sums.get(user.as_str()).copied().unwrap_or(0);
            if *credits < 0 || (*credits, *credits) != (sum_tx, sum_lots) {
                out.push(format!(
                    "user {user}: balance {credits}, sum of transactions {sum_tx}, sum of lot remainders {sum_lots}"
                ));
            }
            let mut before = 0;
            for (i, (_, seq, ty, amount, b, a)) in mine.iter().enumerate() {
                if *seq != i as i64 + 1 || *b != before || *a != b + amount || *a < 0 {
                    out.push(format!(
                        "user {user} seq {seq} ({ty} {amount}): chain broken (expected seq {}, before {before}; got before {b}, after {a})",
                        i + 1
                    ));
                }
                before = *a;
            }
            if before != *credits {
                out.push(format!(
                    "user {user}: last balanceAfter {before} is not the balance {credits}"
                ));
            }
        }
        Ok(())
    }

    async fn audit_lots(&self, out: &mut Vec<String>) -> StoreResult<()> {
        let pool = self.pool();
        let lots: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT id, amount, remaining FROM credit_lots")
                .fetch_all(pool)
                .await?;
        let drawn: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT lot_id, CAST(SUM(amount) AS BIGINT) FROM credit_spends GROUP BY lot_id",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        let expired: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
            "SELECT lot_id, CAST(-SUM(amount) AS BIGINT) FROM credit_transactions
             WHERE type = 'expired' GROUP BY lot_id",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
        for (id, amount, remaining) in &lots {
            let used = drawn.get(id).copied().unwrap_or(0) + expired.get(id).copied().unwrap_or(0);
            if !(0..=*amount).contains(remaining) || amount - remaining != used {
                out.push(format!(
                    "lot {id}: amount {amount}, remaining {remaining}, drawn by debits {used}"
                ));
            }
        }
        let short: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT t.id, t.amount, CAST(COALESCE(SUM(s.amount), 0) AS BIGINT)
             FROM credit_transactions t LEFT JOIN credit_spends s ON s.transaction_id = t.id
             WHERE t.type = 'spent' OR (t.type = 'refunded' AND t.amount < 0)
             GROUP BY t.id, t.amount",
        )
        .fetch_all(pool)
        .await?;
        for (id, amount, from_lots) in short {
            if -amount != from_lots {
                out.push(format!("debit {id} of {amount} drew {from_lots} from lots"));
            }
        }
        Ok(())
    }

    async fn audit_tasks(&self, out: &mut Vec<String>) -> StoreResult<()> {
        let tasks: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT k.id, k.credits_charged, k.credits_refunded,
                CAST(COALESCE(SUM(CASE WHEN t.type = 'spent' THEN -t.amount ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN t.type = 'refunded' THEN t.amount ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN t.type = 'spent' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN t.type = 'refunded' THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM tasks k LEFT JOIN credit_transactions t ON t.task_id = k.id
             GROUP BY k.id, k.credits_charged, k.credits_refunded",
        )
        .fetch_all(self.pool())
        .await?;
        for (id, charged, refunded, spent, back, charges, refunds) in tasks {
            if (charged, refunded) != (spent, back) || charges > 1 || refunds > 1 {
                out.push(format!(
                    "task {id}: charged {charged}, refunded {refunded}; ledger has {charges} charge rows ({spent}) and {refunds} refund rows ({back})"
                ));
            }
        }
        Ok(())
    }
}
