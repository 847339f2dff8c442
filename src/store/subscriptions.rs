//! Plans bought through Stripe: the `subscriptions` row linking a user to their Stripe
//! subscription, the renewal that sets the plan and grants the month's credits once per
//! invoice, the move back to Free when a subscription ends, and the sweep of lapsed periods.
//!
//! The plan itself stays on the user's row (`plan`, `plan_status`, `plan_ends_at`), which the
//! generate check reads; every change here is one transaction that writes the user's row.

use super::ledger::{grant, lock_user, Reference};
use super::{DbTx, Store, StoreResult};
use crate::domain::credits::Origin;
use crate::domain::time::now_ms;

/// A user's Stripe subscription as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StripeSubscription {
    pub user_id: String,
    /// `basic` or `pro`.
    pub plan: String,
    /// `pending` (checkout opened), `active`, `past_due`, `cancelled` or `lapsed`.
    pub status: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub checkout_session_id: Option<String>,
    pub current_period_end: Option<i64>,
    /// 1 when it ends at `current_period_end` instead of renewing.
    pub cancel_at_period_end: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SUB_COLS: &str = "user_id, plan, status, stripe_customer_id, stripe_subscription_id, \
    checkout_session_id, current_period_end, cancel_at_period_end, created_at, updated_at";

/// A paid invoice of a subscription.
pub struct Renewal<'a> {
    pub user_id: &'a str,
    pub plan: &'a str,
    pub subscription_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub invoice_id: &'a str,
    /// Unix ms: the end of the period the invoice pays for.
    pub period_end: i64,
    /// The plan's monthly credits, granted once per invoice.
    pub credits: i64,
}

/// What a subscription change did to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubChange {
    pub user_id: String,
    pub plan: String,
    pub status: String,
}

impl Store {
    pub async fn get_stripe_subscription(
        &self,
        user_id: &str,
    ) -> StoreResult<Option<StripeSubscription>> {
        let q = format!("SELECT {SUB_COLS} FROM subscriptions WHERE user_id = $1");
        Ok(sqlx::query_as(&q)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Records the Checkout Session opened for `plan`; a row that is live (active or past
    /// due) keeps its status and link.
    pub async fn open_subscription_checkout(
        &self,
        user_id: &str,
        plan: &str,
        session_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO subscriptions (user_id, plan, status, checkout_session_id, created_at,
                updated_at) VALUES ($1, $2, 'pending', $3, $4, $4)
             ON CONFLICT (user_id) DO UPDATE SET checkout_session_id = excluded.checkout_session_id,
                updated_at = excluded.updated_at,
                plan = CASE WHEN subscriptions.status IN ('active', 'past_due')
                    THEN subscriptions.plan ELSE excluded.plan END,
                status = CASE WHEN subscriptions.status IN ('active', 'past_due')
                    THEN subscriptions.status ELSE 'pending' END",
        )
        .bind(user_id)
        .bind(plan)
        .bind(session_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The row a Stripe subscription id belongs to.
    pub async fn find_stripe_subscription(
        &self,
        tx: &mut DbTx<'_>,
        subscription_id: &str,
    ) -> StoreResult<Option<StripeSubscription>> {
        let q = format!("SELECT {SUB_COLS} FROM subscriptions WHERE stripe_subscription_id = $1");
        Ok(sqlx::query_as(&q)
            .bind(subscription_id)
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// Links the subscription a completed Checkout Session created to the user who opened
    /// it; `None` when no row has that session, or the row is live with another subscription.
    pub async fn link_subscription(
        &self,
        tx: &mut DbTx<'_>,
        session_id: &str,
        subscription_id: &str,
        customer_id: Option<&str>,
    ) -> StoreResult<Option<StripeSubscription>> {
        let q = format!(
            "UPDATE subscriptions SET stripe_subscription_id = $2,
                stripe_customer_id = COALESCE($3, stripe_customer_id), updated_at = $4
             WHERE checkout_session_id = $1 AND (stripe_subscription_id IS NULL
                OR stripe_subscription_id = $2 OR status NOT IN ('active', 'past_due'))
             RETURNING {SUB_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(session_id)
            .bind(subscription_id)
            .bind(customer_id)
            .bind(now_ms())
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// Applies a paid invoice: the plan becomes active until the period's end (never moved
    /// back by an older invoice), and the plan's credits are granted unless this invoice
    /// already granted them. Returns the credits granted now, or `None` when the user is gone.
    pub async fn renew_subscription(
        &self,
        tx: &mut DbTx<'_>,
        r: &Renewal<'_>,
    ) -> StoreResult<Option<i64>> {
        let now = now_ms();
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
            .bind(r.user_id)
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        // Serialises deliveries of different events for the same invoice.
        lock_user(tx, r.user_id).await?;
        sqlx::query(
            "INSERT INTO subscriptions (user_id, plan, status, stripe_customer_id,
                stripe_subscription_id, current_period_end, created_at, updated_at)
             VALUES ($1, $2, 'active', $3, $4, $5, $6, $6)
             ON CONFLICT (user_id) DO UPDATE SET plan = excluded.plan, status = 'active',
                stripe_customer_id = COALESCE(excluded.stripe_customer_id,
                    subscriptions.stripe_customer_id),
                current_period_end = CASE
                    WHEN subscriptions.stripe_subscription_id = excluded.stripe_subscription_id
                        AND subscriptions.current_period_end > excluded.current_period_end
                    THEN subscriptions.current_period_end ELSE excluded.current_period_end END,
                stripe_subscription_id = excluded.stripe_subscription_id,
                updated_at = excluded.updated_at",
        )
        .bind(r.user_id)
        .bind(r.plan)
        .bind(r.customer_id)
        .bind(r.subscription_id)
        .bind(r.period_end)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE users SET plan = $2, plan_status = 'active', updated_at = $4,
                plan_ends_at = CASE WHEN plan = $2 AND plan_ends_at IS NOT NULL
                    AND plan_ends_at > $3 THEN plan_ends_at ELSE $3 END
             WHERE id = $1",
        )
        .bind(r.user_id)
        .bind(r.plan)
        .bind(r.period_end)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let granted: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM credit_transactions
             WHERE type = 'earned' AND reference_type = 'invoice' AND reference_id = $1",
        )
        .bind(r.invoice_id)
        .fetch_optional(&mut **tx)
        .await?;
        if granted.is_some() || r.credits <= 0 {
            return Ok(Some(0));
        }
        let reference = Reference {
            kind: "invoice",
            id: r.invoice_id,
            description: format!("{} plan: {} monthly credits", r.plan, r.credits),
            task_id: None,
            payment_id: None,
        };
        let expires = Some(r.period_end);
        grant(
            tx,
            r.user_id,
            Origin::Earned,
            r.credits,
            expires,
            &reference,
            now,
        )
        .await?;
        Ok(Some(r.credits))
    }

    /// Moves a linked subscription from one of `from` to `to`.
    pub async fn set_stripe_subscription_status(
        &self,
        tx: &mut DbTx<'_>,
        subscription_id: &str,
        from: &[&str],
        to: &str,
    ) -> StoreResult<Option<StripeSubscription>> {
        let allowed = from
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!(
            "UPDATE subscriptions SET status = $2, updated_at = $3
             WHERE stripe_subscription_id = $1 AND status IN ({allowed}) RETURNING {SUB_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(subscription_id)
            .bind(to)
            .bind(now_ms())
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// Records whether the subscription ends at its period's end instead of renewing.
    pub async fn set_cancel_at_period_end(
        &self,
        tx: &mut DbTx<'_>,
        subscription_id: &str,
        cancel: bool,
    ) -> StoreResult<Option<StripeSubscription>> {
        let q = format!(
            "UPDATE subscriptions SET cancel_at_period_end = $2, updated_at = $3
             WHERE stripe_subscription_id = $1 RETURNING {SUB_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(subscription_id)
            .bind(i64::from(cancel))
            .bind(now_ms())
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// The subscription ended at Stripe: the row becomes `cancelled` and the user moves to
    /// Free (if the plan is still the one it paid for). Credits already granted stay until
    /// their lot expires (the period's end).
    pub async fn end_subscription(
        &self,
        tx: &mut DbTx<'_>,
        subscription_id: &str,
    ) -> StoreResult<Option<SubChange>> {
        let Some(s) = self
            .set_stripe_subscription_status(
                tx,
                subscription_id,
                &["pending", "active", "past_due", "cancelled", "lapsed"],
                "cancelled",
            )
            .await?
        else {
            return Ok(None);
        };
        to_free(tx, &s.user_id, &s.plan, i64::MAX, 0).await?;
        Ok(Some(SubChange {
            user_id: s.user_id,
            plan: "free".into(),
            status: "cancelled".into(),
        }))
    }

    /// Moves up to `limit` users whose Stripe-paid period ended at or before `cutoff` to
    /// Free; their subscription rows become `lapsed`. Returns how many moved.
    pub async fn lapse_subscriptions(&self, cutoff: i64, limit: i64) -> StoreResult<usize> {
        let due: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM subscriptions WHERE status IN ('active', 'past_due')
               AND current_period_end IS NOT NULL AND current_period_end <= $1 LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut n = 0;
        for (user_id,) in due {
            let mut tx = self.begin().await?;
            let moved: Option<(String,)> = sqlx::query_as(
                "UPDATE subscriptions SET status = 'lapsed', updated_at = $3
                 WHERE user_id = $1 AND status IN ('active', 'past_due')
                   AND current_period_end <= $2 RETURNING plan",
            )
            .bind(&user_id)
            .bind(cutoff)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((plan,)) = moved {
                to_free(&mut tx, &user_id, &plan, cutoff, i64::MAX).await?;
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }
}

/// Moves the user to Free when their plan is still `plan` and its end is at or before
/// `ended_by` (a plan with no end counts as ending at `no_end`): a plan an admin extended
/// or made endless stays.
async fn to_free(
    tx: &mut DbTx<'_>,
    user_id: &str,
    plan: &str,
    ended_by: i64,
    no_end: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE users SET plan = 'free', plan_status = 'active', plan_ends_at = NULL,
            updated_at = $3
         WHERE id = $1 AND plan = $2 AND COALESCE(plan_ends_at, $5) <= $4",
    )
    .bind(user_id)
    .bind(plan)
    .bind(now_ms())
    .bind(ended_by)
    .bind(no_end)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
