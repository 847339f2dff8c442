//! The credit ledger: balances, lots and transactions, moved only inside a database
//! transaction (rules in [`crate::domain::credits`]).
//!
//! Every movement goes through [`move_balance`]: one conditional write to the user's row
//! (`credits + delta >= 0`, which is also what locks the row on PostgreSQL and takes the
//! write lock on SQLite) followed by the ledger row carrying the before/after balances and
//! the user's next `seq`. So `users.credits = SUM(amount) = SUM(lots.remaining)` holds after
//! every commit, and a balance can never go below zero whatever runs concurrently.

use super::{DbTx, StoreError, StoreResult};
use crate::domain::credits::{self as rules, OpenLot, Origin, TxType};
use crate::domain::time::now_ms;

/// Credits a new user gets, created in the same transaction as the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignupBonus {
    pub credits: i64,
    pub expires_at: Option<i64>,
}

/// What a ledger row points at; `(type, kind, id)` is unique, so a movement for the same
/// reason can never be written twice.
#[derive(Clone, Debug)]
pub struct Reference<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub description: String,
    pub task_id: Option<&'a str>,
    pub payment_id: Option<&'a str>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CreditTransaction {
    pub id: String,
    pub user_id: String,
    pub seq: i64,
    #[sqlx(rename = "type")]
    pub tx_type: String,
    pub amount: i64,
    pub balance_before: i64,
    pub balance_after: i64,
    pub reference_type: String,
    pub reference_id: String,
    pub description: Option<String>,
    pub task_id: Option<String>,
    pub payment_id: Option<String>,
    pub lot_id: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub(crate) const TX_COLS: &str = "id, user_id, seq, type, amount, balance_before, balance_after, \
    reference_type, reference_id, description, task_id, payment_id, lot_id, created_at, expires_at";

impl CreditTransaction {}

/// Moves `delta` credits on `user_id`'s balance and writes the ledger row, or returns
/// `None` (writing nothing) when the balance would go negative. Returns the row's id.
pub(crate) async fn move_balance(
    tx: &mut DbTx<'_>,
    user_id: &str,
    tx_type: TxType,
    delta: i64,
    r: &Reference<'_>,
    lot: (Option<&str>, Option<i64>),
    now: i64,
) -> StoreResult<Option<String>> {
    let moved: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE users SET credits = credits + $1, ledger_seq = ledger_seq + 1
         WHERE id = $2 AND credits + $1 >= 0 RETURNING credits, ledger_seq",
    )
    .bind(delta)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((after, seq)) = moved else {
        return Ok(None);
    };
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO credit_transactions (id, user_id, seq, type, amount, balance_before,
            balance_after, reference_type, reference_id, description, task_id, payment_id,
            lot_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(seq)
    .bind(tx_type.as_str())
    .bind(delta)
    .bind(after - delta)
    .bind(after)
    .bind(r.kind)
    .bind(r.id)
    .bind(&r.description)
    .bind(r.task_id)
    .bind(r.payment_id)
    .bind(lot.0)
    .bind(now)
    .bind(lot.1)
    .execute(&mut **tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "credits for {} {} were already {}",
            r.kind,
            r.id,
            tx_type.as_str()
        )),
        other => other,
    })?;
    Ok(Some(id))
}

/// Adds a lot of `amount` credits and its ledger row. Returns the lot id.
pub(crate) async fn grant(
    tx: &mut DbTx<'_>,
    user_id: &str,
    origin: Origin,
    amount: i64,
    expires_at: Option<i64>,
    r: &Reference<'_>,
    now: i64,
) -> StoreResult<String> {
    let lot_id = uuid::Uuid::now_v7().to_string();
    move_balance(
        tx,
        user_id,
        origin.tx_type(),
        amount,
        r,
        (Some(&lot_id), expires_at),
        now,
    )
    .await?
    .ok_or_else(|| StoreError::Invalid("a grant must be positive".into()))?;
    sqlx::query(
        "INSERT INTO credit_lots (id, user_id, origin, amount, remaining, expires_at, task_id,
            payment_id, created_at) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
    )
    .bind(&lot_id)
    .bind(user_id)
    .bind(origin.as_str())
    .bind(amount)
    .bind(expires_at)
    .bind(r.task_id)
    .bind(r.payment_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(lot_id)
}

/// Locks the user's row (a no-op write) and returns the balance.
pub(crate) async fn lock_user(tx: &mut DbTx<'_>, user_id: &str) -> StoreResult<i64> {
    let (credits,): (i64,) =
        sqlx::query_as("UPDATE users SET credits = credits WHERE id = $1 RETURNING credits")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(credits)
}

/// Expires the user's lots that are due at `now` (the user's row must be locked).
pub(crate) async fn expire_due(tx: &mut DbTx<'_>, user_id: &str, now: i64) -> StoreResult<usize> {
    let due: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT id, remaining, expires_at FROM credit_lots
         WHERE user_id = $1 AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $2
         ORDER BY expires_at, created_at, id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for (lot_id, remaining, expires_at) in &due {
        take_from_lot(tx, lot_id, *remaining, Some(now)).await?;
        let r = Reference {
            kind: "lot",
            id: lot_id,
            description: format!("{remaining} credits expired"),
            task_id: None,
            payment_id: None,
        };
        let lot = (Some(lot_id.as_str()), Some(*expires_at));
        move_balance(tx, user_id, TxType::Expired, -remaining, &r, lot, now)
            .await?
            .ok_or_else(|| broken("balance below its lots while expiring"))?;
        // Counted inside the transaction: a rolled-back expiry is counted again on retry.
        crate::ops::metrics::get()
            .credits_expired
            .increment((*remaining).max(0) as u64);
    }
    Ok(due.len())
}

/// Takes `amount` from a lot that must hold at least that much.
pub(crate) async fn take_from_lot(
    tx: &mut DbTx<'_>,
    lot_id: &str,
    amount: i64,
    expired_at: Option<i64>,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE credit_lots SET remaining = remaining - $1, expired_at = COALESCE($3, expired_at)
         WHERE id = $2 AND remaining >= $1",
    )
    .bind(amount)
    .bind(lot_id)
    .bind(expired_at)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(broken("a lot holds less than the ledger says"));
    }
    Ok(())
}

pub(crate) async fn record_spend(
    tx: &mut DbTx<'_>,
    tx_id: &str,
    lot_id: &str,
    amount: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO credit_spends (transaction_id, lot_id, amount) VALUES ($1, $2, $3)")
        .bind(tx_id)
        .bind(lot_id)
        .bind(amount)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Spends `amount` for a task from the user's live lots, soonest expiry first. Fails with
/// `InsufficientCredits` (writing nothing) when the live balance is short.
pub(crate) async fn spend_for_task(
    tx: &mut DbTx<'_>,
    user_id: &str,
    amount: i64,
    task_id: &str,
    description: String,
) -> StoreResult<()> {
    let now = now_ms();
    lock_user(tx, user_id).await?;
    expire_due(tx, user_id, now).await?;
    let r = Reference {
        kind: "task",
        id: task_id,
        description,
        task_id: Some(task_id),
        payment_id: None,
    };
    let Some(tx_id) =
        move_balance(tx, user_id, TxType::Spent, -amount, &r, (None, None), now).await?
    else {
        let (available,): (i64,) = sqlx::query_as("SELECT credits FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
        return Err(StoreError::InsufficientCredits {
            required: amount,
            available,
        });
    };
    let mut lots: Vec<OpenLot> = sqlx::query_as::<_, (String, i64, Option<i64>)>(
        "SELECT id, remaining, expires_at FROM credit_lots
         WHERE user_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY created_at, id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|(id, remaining, expires_at)| OpenLot {
        id,
        remaining,
        expires_at,
    })
    .collect();
    rules::fifo_order(&mut lots);
    let plan = rules::allocate(&lots, amount)
        .ok_or_else(|| broken("live lots hold less than the balance"))?;
    for (lot_id, take) in plan {
        take_from_lot(tx, &lot_id, take, None).await?;
        record_spend(tx, &tx_id, &lot_id, take).await?;
    }
    Ok(())
}

/// Gives a failed or cancelled task's unrefunded credits back as a `refunded` lot. The
/// unique ledger reference makes a second refund of the same task fail instead of paying.
pub(crate) async fn refund_task(
    tx: &mut DbTx<'_>,
    user_id: &str,
    task_id: &str,
    amount: i64,
    grace_ms: i64,
) -> StoreResult<i64> {
    if amount <= 0 {
        return Ok(0);
    }
    let now = now_ms();
    let spent_from: Vec<(Option<i64>,)> = sqlx::query_as(
        "SELECT l.expires_at FROM credit_transactions t
         JOIN credit_spends s ON s.transaction_id = t.id JOIN credit_lots l ON l.id = s.lot_id
         WHERE t.task_id = $1 AND t.type = 'spent' AND t.user_id = $2",
    )
    .bind(task_id)
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let expiries: Vec<Option<i64>> = spent_from.into_iter().map(|(e,)| e).collect();
    let expires_at = rules::refund_expiry(&expiries, now, grace_ms);
    let r = Reference {
        kind: "task",
        id: task_id,
        description: format!("refund for task {task_id}"),
        task_id: Some(task_id),
        payment_id: None,
    };
    grant(tx, user_id, Origin::Refunded, amount, expires_at, &r, now).await?;
    Ok(amount)
}

fn broken(what: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!("credit ledger invariant broken: {what}"))
}
