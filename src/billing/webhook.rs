//! Stripe webhook events, each processed once, in one transaction with what it causes.
//!
//! - `checkout.session.completed`: grants the package's credits only when `payment_status`
//!   is `paid`; an unpaid (asynchronous) session just marks the payment `processing`.
//! - `checkout.session.async_payment_succeeded` / `_failed`, `checkout.session.expired`.
//! - `charge.refunded`: takes back the credits owed for the cumulative refunded amount
//!   (refunds made in Stripe's dashboard as well as through the admin route).
//!
//! - Subscription events (plans bought through Checkout): see `webhook_subs`.
//!
//! The event id is claimed first in the transaction; a replayed id changes nothing. If the
//! processing fails the claim rolls back with it, so Stripe's retry gets another chance.

use serde::Deserialize;
use serde_json::Value;

use super::webhook_subs as subs;
use super::BillingSettings;
use crate::domain::plans::expiry_after;
use crate::domain::time::now_ms;
use crate::store::{Completion, DbTx, Payment, Reversal, Store, StoreResult};
use crate::wire::WebhookReceipt;

#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// What an event did, as the webhook answers it (Stripe only looks at the 2xx).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Duplicate,
    Granted {
        payment_id: String,
        credits: i64,
    },
    AlreadySettled {
        payment_id: String,
    },
    Unpaid {
        payment_id: String,
    },
    StatusChanged {
        payment_id: String,
        status: String,
    },
    Reversed {
        payment_id: String,
        reversal: Reversal,
    },
    /// A subscription event changed a user's plan or its Stripe link.
    Subscription(SubOutcome),
    Ignored(String),
}

/// What a subscription event did.
#[derive(Debug, PartialEq, Eq)]
pub struct SubOutcome {
    pub subscription_id: String,
    /// The user's plan now (`free` after a deletion).
    pub plan: String,
    /// The subscription's status now.
    pub status: String,
    /// Credits an `invoice.paid` granted (0 when this invoice had granted them before).
    pub credits_granted: Option<i64>,
}

impl Outcome {
    /// What the webhook answers Stripe (and what the OpenAPI document describes).
    pub fn receipt(&self) -> WebhookReceipt {
        let base = WebhookReceipt {
            received: true,
            ..Default::default()
        };
        match self {
            Outcome::Duplicate => WebhookReceipt {
                duplicate: Some(true),
                ..base
            },
            Outcome::Granted {
                payment_id,
                credits,
            } => WebhookReceipt {
                payment_id: Some(payment_id.clone()),
                credits_granted: Some(*credits),
                ..base
            },
            Outcome::AlreadySettled { payment_id } => WebhookReceipt {
                payment_id: Some(payment_id.clone()),
                already_settled: Some(true),
                ..base
            },
            Outcome::Unpaid { payment_id } => WebhookReceipt {
                payment_id: Some(payment_id.clone()),
                status: Some("processing".into()),
                credits_granted: Some(0),
                ..base
            },
            Outcome::StatusChanged { payment_id, status } => WebhookReceipt {
                payment_id: Some(payment_id.clone()),
                status: Some(status.clone()),
                ..base
            },
            Outcome::Reversed {
                payment_id,
                reversal,
            } => WebhookReceipt {
                payment_id: Some(payment_id.clone()),
                credits_reversed: Some(reversal.reversed),
                credits_unrecovered: Some(reversal.unrecovered),
                ..base
            },
            Outcome::Subscription(o) => WebhookReceipt {
                subscription_id: Some(o.subscription_id.clone()),
                plan: Some(o.plan.clone()),
                status: Some(o.status.clone()),
                credits_granted: o.credits_granted,
                ..base
            },
            Outcome::Ignored(why) => WebhookReceipt {
                ignored: Some(why.clone()),
                ..base
            },
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Processes `event` once.
pub async fn handle(store: &Store, s: &BillingSettings, event: &Event) -> StoreResult<Outcome> {
    let mut tx = store.begin().await?;
    if !store
        .claim_stripe_event(&mut tx, &event.id, &event.kind)
        .await?
    {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    let obj = &event.data.object;
    let outcome = match event.kind.as_str() {
        "checkout.session.completed" if text(obj, "mode") == Some("subscription") => {
            subs::session_completed(store, &mut tx, obj).await?
        }
        "invoice.paid" => subs::invoice_paid(store, s, &mut tx, obj).await?,
        "invoice.payment_failed" => subs::payment_failed(store, &mut tx, obj).await?,
        "customer.subscription.updated" => subs::updated(store, &mut tx, obj).await?,
        "customer.subscription.deleted" => subs::deleted(store, &mut tx, obj).await?,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            session_paid(store, s, &mut tx, obj).await?
        }
        "checkout.session.async_payment_failed" => {
            session_status(store, &mut tx, obj, &["pending", "processing"], "failed").await?
        }
        "checkout.session.expired" => {
            session_status(store, &mut tx, obj, &["pending"], "expired").await?
        }
        "charge.refunded" => charge_refunded(store, &mut tx, obj).await?,
        other => Outcome::Ignored(format!("event type {other} is not used")),
    };
    tx.commit().await?;
    if let Outcome::Ignored(why) = &outcome {
        tracing::info!(event_id = %event.id, kind = %event.kind, why, "Stripe event ignored");
    }
    Ok(outcome)
}

async fn session_payment(
    store: &Store,
    tx: &mut DbTx<'_>,
    obj: &Value,
) -> StoreResult<Option<Payment>> {
    let payment_id = obj.get("metadata").and_then(|m| text(m, "payment_id"));
    store
        .find_payment(tx, text(obj, "id"), None, payment_id)
        .await
}

async fn session_paid(
    store: &Store,
    s: &BillingSettings,
    tx: &mut DbTx<'_>,
    obj: &Value,
) -> StoreResult<Outcome> {
    let Some(p) = session_payment(store, tx, obj).await? else {
        return Ok(Outcome::Ignored("no payment matches this session".into()));
    };
    if text(obj, "payment_status") != Some("paid") {
        store
            .set_payment_status(tx, &p.id, &["pending"], "processing")
            .await?;
        return Ok(Outcome::Unpaid { payment_id: p.id });
    }
    let amount = obj.get("amount_total").and_then(Value::as_i64);
    let currency = text(obj, "currency").unwrap_or("");
    let user = text(obj, "client_reference_id");
    if amount != Some(p.amount_minor)
        || !currency.eq_ignore_ascii_case(&p.currency)
        || user.is_some_and(|u| u != p.user_id)
    {
        tracing::error!(payment_id = %p.id, ?amount, currency, "paid session does not match its payment; no credits granted");
        return Ok(Outcome::Ignored(
            "session amount, currency or user does not match the payment".into(),
        ));
    }
    let expires = expiry_after(now_ms(), s.purchased_credit_days);
    let intent = text(obj, "payment_intent");
    Ok(
        match store.complete_payment(tx, &p.id, intent, expires).await? {
            Completion::Granted(p) => Outcome::Granted {
                payment_id: p.id,
                credits: p.credits,
            },
            Completion::AlreadySettled(p) => Outcome::AlreadySettled { payment_id: p.id },
        },
    )
}

async fn session_status(
    store: &Store,
    tx: &mut DbTx<'_>,
    obj: &Value,
    from: &[&str],
    to: &str,
) -> StoreResult<Outcome> {
    let Some(p) = session_payment(store, tx, obj).await? else {
        return Ok(Outcome::Ignored("no payment matches this session".into()));
    };
    Ok(match store.set_payment_status(tx, &p.id, from, to).await? {
        Some(p) => Outcome::StatusChanged {
            payment_id: p.id,
            status: p.status,
        },
        None => Outcome::AlreadySettled { payment_id: p.id },
    })
}

async fn charge_refunded(store: &Store, tx: &mut DbTx<'_>, obj: &Value) -> StoreResult<Outcome> {
    let payment_id = obj.get("metadata").and_then(|m| text(m, "payment_id"));
    let intent = text(obj, "payment_intent");
    if intent.is_none() && payment_id.is_none() {
        return Ok(Outcome::Ignored("charge has no payment intent".into()));
    }
    let Some(p) = store.find_payment(tx, None, intent, payment_id).await? else {
        return Ok(Outcome::Ignored("no payment matches this charge".into()));
    };
    let refunded = obj
        .get("amount_refunded")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .min(p.amount_minor);
    if refunded <= p.refunded_minor {
        return Ok(Outcome::AlreadySettled { payment_id: p.id });
    }
    if !matches!(p.status.as_str(), "completed" | "partially_refunded") {
        return Ok(Outcome::Ignored(format!(
            "payment {} is {}, not refundable",
            p.id, p.status
        )));
    }
    let (p, reversal) = store.reverse_payment(tx, &p.id, refunded).await?;
    if reversal.unrecovered > 0 {
        tracing::warn!(payment_id = %p.id, unrecovered = reversal.unrecovered, "refunded payment's credits were already spent");
    }
    Ok(Outcome::Reversed {
        payment_id: p.id,
        reversal,
    })
}
