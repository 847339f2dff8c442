//! Credit queries at the `Store` level: balances and totals, the ledger pages, the expiry
//! sweep and plans. The movements themselves are in `ledger.rs`.

use super::ledger::{expire_due, grant, lock_user, CreditTransaction, Reference, TX_COLS};
use super::{Store, StoreResult};
use crate::domain::credits::{Origin, TxType};
use crate::domain::plans::Subscription;
use crate::domain::time::now_ms;

/// `GET /api/users/credits`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreditSummary {
    pub credits: i64,
    /// Bonus, purchased and earned credits received.
    pub total_earned: i64,
    /// Spent on tasks, net of task refunds.
    pub total_spent: i64,
    pub total_expired: i64,
    /// Taken back because a payment was refunded.
    pub total_reversed: i64,
}

impl Store {
    /// Sweeps up to `limit` users' due lots into `expired` ledger rows. Returns the number
    /// of lots expired.
    pub async fn expire_credits(&self, now: i64, limit: i64) -> StoreResult<usize> {
        let users: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT user_id FROM credit_lots
             WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut n = 0;
        for (user_id,) in users {
            n += self.expire_user_credits(&user_id, now).await?;
        }
        Ok(n)
    }

    async fn expire_user_credits(&self, user_id: &str, now: i64) -> StoreResult<usize> {
        let mut tx = self.pool().begin().await?;
        lock_user(&mut tx, user_id).await?;
        let n = expire_due(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The credits a spend could use now (live lots only), read without writing anything:
    /// an early check; the spending transaction stays the authority.
    pub async fn live_credits(&self, user_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM credit_lots
             WHERE user_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(user_id)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Balance and totals; lots that are due are expired first so they never count.
    pub async fn credit_summary(&self, user_id: &str) -> StoreResult<CreditSummary> {
        let now = now_ms();
        let due: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM credit_lots WHERE user_id = $1 AND remaining > 0
               AND expires_at IS NOT NULL AND expires_at <= $2 LIMIT 1",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if due.is_some() {
            self.expire_user_credits(user_id, now).await?;
        }
        let (credits,): (i64,) = sqlx::query_as("SELECT credits FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT type, reference_type, CAST(COALESCE(SUM(amount), 0) AS BIGINT)
             FROM credit_transactions WHERE user_id = $1 GROUP BY type, reference_type",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        let mut s = CreditSummary {
            credits,
            ..Default::default()
        };
        for (ty, reference, sum) in rows {
            match (TxType::parse(&ty), reference.as_str()) {
                (Some(TxType::Bonus | TxType::Purchased | TxType::Earned), _) => {
                    s.total_earned += sum
                }
                (Some(TxType::Spent), _) | (Some(TxType::Refunded), "task") => s.total_spent -= sum,
                (Some(TxType::Expired), _) => s.total_expired -= sum,
                (Some(TxType::Refunded), _) => s.total_reversed -= sum,
                (None, _) => {}
            }
        }
        Ok(s)
    }

    /// A page of the user's ledger, newest first, optionally of one type.
    pub async fn list_credit_transactions(
        &self,
        user_id: &str,
        tx_type: Option<TxType>,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<CreditTransaction>, i64)> {
        let filter = tx_type.map(|t| ("type", t.as_str()));
        self.user_page(
            TX_COLS,
            "credit_transactions",
            user_id,
            filter,
            "seq DESC",
            page,
            page_size,
        )
        .await
    }

    /// Every ledger row of a task (its charge and, at most once, its refund).
    pub async fn task_credit_transactions(
        &self,
        task_id: &str,
    ) -> StoreResult<Vec<CreditTransaction>> {
        let q =
            format!("SELECT {TX_COLS} FROM credit_transactions WHERE task_id = $1 ORDER BY seq");
        Ok(sqlx::query_as(&q)
            .bind(task_id)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn get_subscription(&self, user_id: &str) -> StoreResult<Subscription> {
        let (plan, status, ends_at): (String, String, Option<i64>) =
            sqlx::query_as("SELECT plan, plan_status, plan_ends_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
        Ok(Subscription {
            plan,
            status,
            ends_at,
        })
    }

    /// Sets the user's plan and, when `grant` is given, adds that many `earned` credits
    /// (the plan's monthly allowance) expiring with the plan, in the same transaction.
    pub async fn set_subscription(
        &self,
        user_id: &str,
        sub: &Subscription,
        grant_credits: i64,
    ) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE users SET plan = $1, plan_status = $2, plan_ends_at = $3, updated_at = $4
             WHERE id = $5 RETURNING id",
        )
        .bind(&sub.plan)
        .bind(&sub.status)
        .bind(sub.ends_at)
        .bind(now)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        if grant_credits > 0 {
            let reference = uuid::Uuid::now_v7().to_string();
            let r = Reference {
                kind: "plan",
                id: &reference,
                description: format!("{} plan: {grant_credits} monthly credits", sub.plan),
                task_id: None,
                payment_id: None,
            };
            let expires = sub.ends_at.or(crate::domain::plans::expiry_after(now, 30));
            grant(
                &mut tx,
                user_id,
                Origin::Earned,
                grant_credits,
                expires,
                &r,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
