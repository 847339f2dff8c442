//! The Stripe events of plans bought by subscription, applied inside the webhook's
//! transaction (after the event id is claimed):
//!
//! - `checkout.session.completed` (mode `subscription`): links the new subscription (and
//!   Stripe customer) to the user who opened the session.
//! - `invoice.paid` (`subscription_create`, `subscription_cycle`): the plan of the invoice's
//!   Price becomes active until the invoice line's period end, and the plan's monthly
//!   credits are granted once per invoice id (whatever event ids deliver it).
//! - `invoice.payment_failed`: the subscription is `past_due`; the plan keeps the period it
//!   paid for, and lapses after it (plus the grace) unless a later invoice is paid.
//! - `customer.subscription.updated`: records `cancel_at_period_end`.
//! - `customer.subscription.deleted`: the user moves to Free at once.
//!
//! Both the old invoice shape (`subscription`, `lines.data[].price.id`) and the 2025 one
//! (`parent.subscription_details`, `lines.data[].pricing.price_details.price`) are read.

use serde_json::Value;

use super::webhook::{Outcome, SubOutcome};
use super::BillingSettings;
use crate::domain::time::now_ms;
use crate::store::{DbTx, Renewal, Store, StoreResult};

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn ignored(why: &str) -> StoreResult<Outcome> {
    Ok(Outcome::Ignored(why.into()))
}

pub(super) async fn session_completed(
    store: &Store,
    tx: &mut DbTx<'_>,
    obj: &Value,
) -> StoreResult<Outcome> {
    let (Some(session), Some(sub_id)) = (text(obj, &["id"]), text(obj, &["subscription"])) else {
        return ignored("subscription session without an id or a subscription");
    };
    let customer = text(obj, &["customer"]);
    match store
        .link_subscription(tx, session, sub_id, customer)
        .await?
    {
        Some(s) => Ok(Outcome::Subscription(SubOutcome {
            subscription_id: sub_id.into(),
            plan: s.plan,
            status: s.status,
            credits_granted: None,
        })),
        None => {
            tracing::warn!(session, sub_id, "subscription checkout matches no open checkout, or the user already has another live subscription");
            ignored("no open subscription checkout matches this session")
        }
    }
}

fn invoice_subscription(obj: &Value) -> Option<&str> {
    text(obj, &["subscription"])
        .or_else(|| text(obj, &["parent", "subscription_details", "subscription"]))
}

pub(super) async fn invoice_paid(
    store: &Store,
    s: &BillingSettings,
    tx: &mut DbTx<'_>,
    obj: &Value,
) -> StoreResult<Outcome> {
    let reason = text(obj, &["billing_reason"]).unwrap_or("");
    if !matches!(reason, "subscription_create" | "subscription_cycle") {
        return ignored("invoice billing_reason is not subscription_create or subscription_cycle");
    }
    let (Some(invoice_id), Some(sub_id)) = (text(obj, &["id"]), invoice_subscription(obj)) else {
        return ignored("invoice without an id or a subscription");
    };
    let line = &obj["lines"]["data"][0];
    let price = text(line, &["price", "id"])
        .or_else(|| text(line, &["pricing", "price_details", "price"]))
        .unwrap_or("");
    let Some(plan) = s.plan_of_price(price) else {
        tracing::error!(
            invoice_id,
            price,
            "paid invoice is for a Price no plan is sold at; nothing granted"
        );
        return ignored("the invoice's price is not a plan's STRIPE_PRICE_*");
    };
    let Some(end) = line["period"]["end"]
        .as_i64()
        .map(|t| t.saturating_mul(1000))
    else {
        return ignored("invoice line without a period end");
    };
    if end <= now_ms() {
        return ignored("the invoice's period has already ended");
    }
    let linked = store.find_stripe_subscription(tx, sub_id).await?;
    let meta = |k: &str| {
        text(obj, &["subscription_details", "metadata", k])
            .or_else(|| text(obj, &["parent", "subscription_details", "metadata", k]))
    };
    let user_id = match &linked {
        Some(row) => row.user_id.clone(),
        None => match meta("user_id") {
            Some(u) => u.to_string(),
            None => return ignored("no user is linked to this subscription"),
        },
    };
    let r = Renewal {
        user_id: &user_id,
        plan: plan.as_str(),
        subscription_id: sub_id,
        customer_id: text(obj, &["customer"]),
        invoice_id,
        period_end: end,
        credits: s.monthly_credits(plan.as_str()),
    };
    let Some(granted) = store.renew_subscription(tx, &r).await? else {
        return ignored("the subscription's user no longer exists");
    };
    Ok(Outcome::Subscription(SubOutcome {
        subscription_id: sub_id.into(),
        plan: plan.as_str().into(),
        status: "active".into(),
        credits_granted: Some(granted),
    }))
}

pub(super) async fn payment_failed(
    store: &Store,
    tx: &mut DbTx<'_>,
    obj: &Value,
) -> StoreResult<Outcome> {
    let Some(sub_id) = invoice_subscription(obj) else {
        return ignored("invoice without a subscription");
    };
    match store
        .set_stripe_subscription_status(tx, sub_id, &["active"], "past_due")
        .await?
    {
        Some(row) => Ok(Outcome::Subscription(SubOutcome {
            subscription_id: sub_id.into(),
            plan: row.plan,
            status: row.status,
            credits_granted: None,
        })),
        None => ignored("no active subscription matches this invoice"),
    }
}

pub(super) async fn updated(store: &Store, tx: &mut DbTx<'_>, obj: &Value) -> StoreResult<Outcome> {
    let (Some(sub_id), Some(cancel)) = (
        text(obj, &["id"]),
        obj.get("cancel_at_period_end").and_then(Value::as_bool),
    ) else {
        return ignored("subscription without an id or cancel_at_period_end");
    };
    match store.set_cancel_at_period_end(tx, sub_id, cancel).await? {
        Some(row) => Ok(Outcome::Subscription(SubOutcome {
            subscription_id: sub_id.into(),
            plan: row.plan,
            status: row.status,
            credits_granted: None,
        })),
        None => ignored("no user is linked to this subscription"),
    }
}

pub(super) async fn deleted(store: &Store, tx: &mut DbTx<'_>, obj: &Value) -> StoreResult<Outcome> {
    let Some(sub_id) = text(obj, &["id"]) else {
        return ignored("subscription without an id");
    };
    match store.end_subscription(tx, sub_id).await? {
        Some(change) => Ok(Outcome::Subscription(SubOutcome {
            subscription_id: sub_id.into(),
            plan: change.plan,
            status: change.status,
            credits_granted: None,
        })),
        None => ignored("no user is linked to this subscription"),
    }
}
