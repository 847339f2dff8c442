//! Payments (credit package purchases), the Stripe events already processed, and the credit
//! movements a payment causes: the purchase grant and the take-back after a refund.
//!
//! A payment's row is the first thing each of these transactions writes (a conditional
//! status change), so a payment is granted once and a refund state is applied once, whatever
//! order webhooks, retries and the admin route arrive in.

use super::ledger::{self, Reference};
use super::DbTx;
use super::{Store, StoreError, StoreResult};
use crate::domain::credits::{credits_owed, Origin, TxType};
use crate::domain::time::now_ms;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Payment {
    pub id: String,
    pub user_id: String,
    pub package: String,
    pub credits: i64,
    pub amount_minor: i64,
    pub currency: String,
    /// pending | processing | completed | failed | expired | partially_refunded | refunded
    pub status: String,
    /// `stripe` or `local` (a development-only test payment).
    pub provider: String,
    pub stripe_session_id: Option<String>,
    pub stripe_payment_intent: Option<String>,
    pub payment_url: Option<String>,
    pub refunded_minor: i64,
    pub credits_reversed: i64,
    pub credits_unrecovered: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

const PAYMENT_COLS: &str = "id, user_id, package, credits, amount_minor, currency, status, \
    provider, stripe_session_id, stripe_payment_intent, payment_url, refunded_minor, \
    credits_reversed, credits_unrecovered, created_at, updated_at, completed_at";

impl Payment {
    pub fn refundable_minor(&self) -> i64 {
        match self.status.as_str() {
            "completed" | "partially_refunded" => self.amount_minor - self.refunded_minor,
            _ => 0,
        }
    }
}

pub struct NewPayment<'a> {
    pub user_id: &'a str,
    pub package: &'a str,
    pub credits: i64,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub provider: &'a str,
}

/// What completing a payment did.
#[derive(Debug)]
pub enum Completion {
    Granted(Payment),
    /// Already completed (or failed/expired): nothing granted now.
    AlreadySettled(Payment),
}

/// What taking credits back for a refund did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reversal {
    /// Credits this refund state owes back.
    pub owed: i64,
    /// Taken back from the payment's lot.
    pub reversed: i64,
    /// Already spent (or expired), so not recoverable.
    pub unrecovered: i64,
    /// False when this refund state had been recorded before (nothing moved now).
    pub applied: bool,
}

impl Store {
    pub async fn begin(&self) -> StoreResult<DbTx<'static>> {
        Ok(self.pool().begin().await?)
    }

    pub async fn insert_payment(&self, new: NewPayment<'_>) -> StoreResult<Payment> {
        let now = now_ms();
        let q = format!(
            "INSERT INTO payments (id, user_id, package, credits, amount_minor, currency, status,
                provider, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8) RETURNING {PAYMENT_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(format!("pay_{}", uuid::Uuid::now_v7().simple()))
            .bind(new.user_id)
            .bind(new.package)
            .bind(new.credits)
            .bind(new.amount_minor)
            .bind(new.currency.to_ascii_lowercase())
            .bind(new.provider)
            .bind(now)
            .fetch_one(self.pool())
            .await?)
    }

    /// Records the Checkout Session made for a pending payment.
    pub async fn set_checkout(
        &self,
        id: &str,
        session_id: &str,
        url: &str,
    ) -> StoreResult<Payment> {
        let q = format!(
            "UPDATE payments SET stripe_session_id = $2, payment_url = $3, updated_at = $4
             WHERE id = $1 RETURNING {PAYMENT_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(id)
            .bind(session_id)
            .bind(url)
            .bind(now_ms())
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn get_payment(&self, id: &str) -> StoreResult<Payment> {
        let q = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1");
        Ok(sqlx::query_as(&q).bind(id).fetch_one(self.pool()).await?)
    }

    /// The payment a Stripe object refers to: by session, payment intent or our own id.
    pub async fn find_payment(
        &self,
        tx: &mut DbTx<'_>,
        session_id: Option<&str>,
        payment_intent: Option<&str>,
        payment_id: Option<&str>,
    ) -> StoreResult<Option<Payment>> {
        let q = format!(
            "SELECT {PAYMENT_COLS} FROM payments
             WHERE stripe_session_id = $1 OR stripe_payment_intent = $2 OR id = $3 LIMIT 1"
        );
        Ok(sqlx::query_as(&q)
            .bind(session_id.unwrap_or("-"))
            .bind(payment_intent.unwrap_or("-"))
            .bind(payment_id.unwrap_or("-"))
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// Claims a Stripe event id; false when it was processed before. As the transaction's
    /// first write it also serialises concurrent deliveries of the same event.
    pub async fn claim_stripe_event(
        &self,
        tx: &mut DbTx<'_>,
        id: &str,
        event_type: &str,
    ) -> StoreResult<bool> {
        let claimed: Option<(String,)> = sqlx::query_as(
            "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(event_type)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(claimed.is_some())
    }

    /// Moves a payment that is in one of `from` to `to`; the payment when it moved.
    pub async fn set_payment_status(
        &self,
        tx: &mut DbTx<'_>,
        id: &str,
        from: &[&str],
        to: &str,
    ) -> StoreResult<Option<Payment>> {
        let allowed = from
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "")))
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!(
            "UPDATE payments SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ({allowed})
             RETURNING {PAYMENT_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(id)
            .bind(to)
            .bind(now_ms())
            .fetch_optional(&mut **tx)
            .await?)
    }

    /// Completes a pending payment and grants its credits (a `purchased` lot expiring at
    /// `expires_at`), once: a payment that is already settled grants nothing.
    pub async fn complete_payment(
        &self,
        tx: &mut DbTx<'_>,
        id: &str,
        payment_intent: Option<&str>,
        expires_at: Option<i64>,
    ) -> StoreResult<Completion> {
        let now = now_ms();
        let q = format!(
            "UPDATE payments SET status = 'completed', completed_at = $2, updated_at = $2,
                stripe_payment_intent = COALESCE($3, stripe_payment_intent)
             WHERE id = $1 AND status IN ('pending', 'processing') RETURNING {PAYMENT_COLS}"
        );
        let done: Option<Payment> = sqlx::query_as(&q)
            .bind(id)
            .bind(now)
            .bind(payment_intent)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(p) = done else {
            let q = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1");
            let p: Payment = sqlx::query_as(&q).bind(id).fetch_one(&mut **tx).await?;
            return Ok(Completion::AlreadySettled(p));
        };
        let r = Reference {
            kind: "payment",
            id: &p.id,
            description: format!("purchased {} package: {} credits", p.package, p.credits),
            task_id: None,
            payment_id: Some(&p.id),
        };
        ledger::grant(
            tx,
            &p.user_id,
            Origin::Purchased,
            p.credits,
            expires_at,
            &r,
            now,
        )
        .await?;
        Ok(Completion::Granted(p))
    }

    /// Credits a refund bringing the payment to `refunded_total` would take back, and how
    /// many of them are still unspent in the payment's lot.
    pub async fn reversal_preview(
        &self,
        p: &Payment,
        refunded_total: i64,
    ) -> StoreResult<(i64, i64)> {
        let owed = credits_owed(p.credits, p.amount_minor, refunded_total)
            - p.credits_reversed
            - p.credits_unrecovered;
        let (left,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM credit_lots
             WHERE payment_id = $1 AND origin = 'purchased'
               AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(&p.id)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok((owed.max(0), owed.clamp(0, left)))
    }

    /// Records that `refunded_total` (minor units, cumulative) of the payment has been
    /// refunded and takes back the credits that owes from the payment's own lot; what the
    /// user already spent is recorded as unrecovered. A state recorded before moves nothing.
    pub async fn reverse_payment(
        &self,
        tx: &mut DbTx<'_>,
        id: &str,
        refunded_total: i64,
    ) -> StoreResult<(Payment, Reversal)> {
        let now = now_ms();
        let q = format!(
            "UPDATE payments SET refunded_minor = $2, updated_at = $3,
                status = CASE WHEN $2 >= amount_minor THEN 'refunded' ELSE 'partially_refunded' END
             WHERE id = $1 AND status IN ('completed', 'partially_refunded')
               AND refunded_minor < $2 AND $2 <= amount_minor
             RETURNING {PAYMENT_COLS}"
        );
        let moved: Option<Payment> = sqlx::query_as(&q)
            .bind(id)
            .bind(refunded_total)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(mut p) = moved else {
            let q = format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = $1");
            let p: Payment = sqlx::query_as(&q).bind(id).fetch_one(&mut **tx).await?;
            if p.refunded_minor >= refunded_total {
                return Ok((p, Reversal::default()));
            }
            return Err(StoreError::Conflict(format!(
                "payment {id} is {} and cannot be refunded to {refunded_total}",
                p.status
            )));
        };
        let owed = (credits_owed(p.credits, p.amount_minor, refunded_total)
            - p.credits_reversed
            - p.credits_unrecovered)
            .max(0);
        ledger::lock_user(tx, &p.user_id).await?;
        ledger::expire_due(tx, &p.user_id, now).await?;
        let lot: Option<(String, i64)> = sqlx::query_as(
            "SELECT id, remaining FROM credit_lots WHERE payment_id = $1 AND origin = 'purchased'",
        )
        .bind(&p.id)
        .fetch_optional(&mut **tx)
        .await?;
        let (lot_id, left) = lot.unwrap_or_default();
        let take = owed.min(left);
        if take > 0 {
            let reference = format!("{}:{refunded_total}", p.id);
            let r = Reference {
                kind: "paymentRefund",
                id: &reference,
                description: format!("payment {} refunded: {take} credits taken back", p.id),
                task_id: None,
                payment_id: Some(&p.id),
            };
            let tx_id = ledger::move_balance(
                tx,
                &p.user_id,
                TxType::Refunded,
                -take,
                &r,
                (Some(&lot_id), None),
                now,
            )
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("balance below a lot's remainder")))?;
            ledger::take_from_lot(tx, &lot_id, take, None).await?;
            ledger::record_spend(tx, &tx_id, &lot_id, take).await?;
        }
        sqlx::query(
            "UPDATE payments SET credits_reversed = credits_reversed + $2,
                credits_unrecovered = credits_unrecovered + $3 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(take)
        .bind(owed - take)
        .execute(&mut **tx)
        .await?;
        p.credits_reversed += take;
        p.credits_unrecovered += owed - take;
        let rev = Reversal {
            owed,
            reversed: take,
            unrecovered: owed - take,
            applied: true,
        };
        Ok((p, rev))
    }
}
