//! Plans people buy: Stripe Checkout in subscription mode (a Stripe Price per plan from
//! `STRIPE_PRICE_BASIC` / `STRIPE_PRICE_PRO`), the user's subscription as they see it,
//! cancelling at the period's end, and the sweep that moves lapsed plans to Free. The
//! webhook events that renew and end subscriptions are applied in `webhook_subs`.
//!
//! One subscription per user: a user on an active paid plan cannot open another checkout
//! (409 `alreadySubscribed`), a plan change included; they cancel and subscribe again once
//! the paid period is over.

use tokio_util::sync::CancellationToken;

use super::generating::Plan;
use super::service::{not_configured, stripe_error, Payments};
use super::stripe::{self, CheckoutSession};
use super::BillingSettings;
use crate::domain::plans::Subscription;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, StoreError, StripeSubscription};

/// Users moved to Free per sweep step (the rest wait for the next step).
const LAPSE_BATCH: i64 = 500;

/// What a subscription checkout asks for (parsed from the request).
pub struct SubscribeInput {
    pub plan: String,
    pub return_url: String,
}

/// An opened subscription checkout.
pub struct SubscribeStarted {
    pub plan: Plan,
    pub session_id: String,
    pub checkout_url: String,
}

/// The user's plan and, when they ever subscribed through Stripe, that subscription.
pub struct SubscriptionState {
    pub plan: Subscription,
    pub stripe: Option<StripeSubscription>,
}

impl BillingSettings {
    /// The Stripe Price id a plan is sold at, and the variable that sets it.
    pub fn plan_price(&self, plan: Plan) -> (&str, &'static str) {
        match plan {
            Plan::Basic => (&self.stripe_price_basic, "STRIPE_PRICE_BASIC"),
            Plan::Pro => (&self.stripe_price_pro, "STRIPE_PRICE_PRO"),
            Plan::Free => ("", "STRIPE_PRICE_BASIC"),
        }
    }

    /// The plan a Stripe Price id sells, if it is one of ours.
    pub fn plan_of_price(&self, price: &str) -> Option<Plan> {
        [Plan::Basic, Plan::Pro]
            .into_iter()
            .find(|&p| !price.is_empty() && self.plan_price(p).0 == price)
    }
}

/// A Stripe object id (`sub_…`, `cs_…`) safe to put in a URL path.
fn is_stripe_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A paid plan that is active and not past its end.
fn holds_paid_plan(sub: &Subscription, now: i64) -> bool {
    sub.plan != "free" && sub.status == "active" && sub.ends_at.is_none_or(|e| e > now)
}

/// The Checkout Session's form: subscription mode, the plan's Price, the user as
/// `client_reference_id` and in the session's and the subscription's metadata.
pub fn subscription_form(
    user_id: &str,
    plan: Plan,
    price: &str,
    customer: Result<&str, &str>,
    return_url: &url::Url,
) -> Vec<(String, String)> {
    let back = |status: &str| {
        let mut u = return_url.clone();
        u.query_pairs_mut()
            .append_pair("subscription", status)
            .append_pair("plan", plan.as_str());
        u.to_string()
    };
    let customer = match customer {
        Ok(id) => ("customer", id.to_string()),
        Err(email) => ("customer_email", email.to_string()),
    };
    [
        ("mode", "subscription".to_string()),
        ("line_items[0][price]", price.to_string()),
        ("line_items[0][quantity]", "1".into()),
        ("client_reference_id", user_id.to_string()),
        customer,
        ("success_url", back("success")),
        ("cancel_url", back("cancelled")),
        ("metadata[user_id]", user_id.to_string()),
        ("metadata[plan]", plan.as_str().to_string()),
        ("subscription_data[metadata][user_id]", user_id.to_string()),
        (
            "subscription_data[metadata][plan]",
            plan.as_str().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Payments {
    /// Opens a Stripe Checkout Session for `plan` (subscription mode).
    pub async fn subscribe(
        &self,
        user_id: &str,
        input: &SubscribeInput,
    ) -> ApiResult<SubscribeStarted> {
        let b = self.settings();
        if !b.stripe_configured() {
            return Err(not_configured("STRIPE_SECRET_KEY"));
        }
        let plan = match Plan::parse(&input.plan) {
            Some(p @ (Plan::Basic | Plan::Pro)) => p,
            _ => return Err(ApiError::field("plan", "basic or pro")),
        };
        let (price, var) = b.plan_price(plan);
        if price.is_empty() {
            return Err(ApiError::Unavailable(
                "subscriptionsNotConfigured",
                format!(
                    "the {} plan is not sold on this server ({var} is unset)",
                    plan.as_str()
                ),
            ));
        }
        let return_url = self.return_url(&input.return_url)?;
        let store = self.store();
        let current = store.get_subscription(user_id).await?;
        if holds_paid_plan(&current, now_ms()) {
            return Err(ApiError::ConflictCode(
                "alreadySubscribed",
                format!(
                    "you are already on the {} plan; to change plans, cancel \
                     (POST /api/users/subscription/cancel) and subscribe again when it ends",
                    current.plan
                ),
            ));
        }
        let linked = store.get_stripe_subscription(user_id).await?;
        if let Some(old) = linked.as_ref().filter(|s| s.status == "pending") {
            self.expire_session(old.checkout_session_id.as_deref())
                .await;
        }
        let email = store.get_user(user_id).await?.email;
        let customer = linked
            .as_ref()
            .and_then(|s| s.stripe_customer_id.as_deref())
            .ok_or(email.as_str());
        let form = subscription_form(user_id, plan, price, customer, &return_url);
        let key = format!("subscribe_{}", uuid::Uuid::now_v7().simple());
        let v = stripe::post(b, "/v1/checkout/sessions", &form, &key)
            .await
            .map_err(stripe_error)?;
        let session: CheckoutSession = serde_json::from_value(v).map_err(|e| {
            stripe_error(stripe::StripeError::Transport(format!("bad session: {e}")))
        })?;
        store
            .open_subscription_checkout(user_id, plan.as_str(), &session.id)
            .await?;
        Ok(SubscribeStarted {
            plan,
            session_id: session.id,
            checkout_url: session.url.unwrap_or_default(),
        })
    }

    /// Expires the user's previous, still open subscription checkout at Stripe, so two open
    /// sessions cannot both become subscriptions. Best effort: a session that completed or
    /// expired meanwhile is refused by Stripe, and that is fine.
    async fn expire_session(&self, session: Option<&str>) {
        let Some(id) = session.filter(|id| is_stripe_id(id)) else {
            return;
        };
        let path = format!("/v1/checkout/sessions/{id}/expire");
        if let Err(e) = stripe::post(self.settings(), &path, &[], &format!("expire_{id}")).await {
            tracing::info!(error = %e, "previous subscription checkout not expired");
        }
    }

    pub async fn subscription(&self, user_id: &str) -> ApiResult<SubscriptionState> {
        let store = self.store();
        let plan = store.get_subscription(user_id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::Unauthorized("user no longer exists".into()),
            other => other.into(),
        })?;
        let stripe = store.get_stripe_subscription(user_id).await?;
        Ok(SubscriptionState { plan, stripe })
    }

    /// Asks Stripe to end the user's subscription at the end of the paid period (the plan
    /// stays until then; `customer.subscription.deleted` then moves it to Free). Cancelling
    /// twice answers the same state.
    pub async fn cancel_subscription(&self, user_id: &str) -> ApiResult<SubscriptionState> {
        let b = self.settings();
        if !b.stripe_configured() {
            return Err(not_configured("STRIPE_SECRET_KEY"));
        }
        let state = self.subscription(user_id).await?;
        let live = state.stripe.as_ref().filter(|s| {
            matches!(s.status.as_str(), "active" | "past_due") && s.stripe_subscription_id.is_some()
        });
        let Some(sub) = live else {
            return Err(ApiError::ConflictCode(
                "noSubscription",
                "you have no Stripe subscription to cancel".into(),
            ));
        };
        if sub.cancel_at_period_end != 0 {
            return Ok(state);
        }
        let id = sub.stripe_subscription_id.as_deref().unwrap_or_default();
        if !is_stripe_id(id) {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "stored subscription id is malformed"
            )));
        }
        let form = [("cancel_at_period_end".to_string(), "true".to_string())];
        stripe::post(
            b,
            &format!("/v1/subscriptions/{id}"),
            &form,
            &format!("cancel_{id}"),
        )
        .await
        .map_err(stripe_error)?;
        let store = self.store();
        let mut tx = store.begin().await?;
        store.set_cancel_at_period_end(&mut tx, id, true).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.subscription(user_id).await
    }
}

/// Every `credit_sweep_interval_secs`, moves users whose Stripe-paid period ended more than
/// `subscription_grace_secs` ago to Free.
pub fn spawn_lapse_sweep(store: Store, b: &BillingSettings, shutdown: CancellationToken) {
    let every = std::time::Duration::from_secs(b.credit_sweep_interval_secs);
    let grace_ms = b.subscription_grace_secs.max(0).saturating_mul(1000);
    crate::periodic::spawn_every(every, shutdown, move || {
        let store = store.clone();
        async move {
            let cutoff = now_ms().saturating_sub(grace_ms);
            match store.lapse_subscriptions(cutoff, LAPSE_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(users = n, "lapsed subscriptions moved to free"),
                Err(e) => tracing::warn!(error = %e, "subscription lapse sweep failed"),
            }
        }
    });
}

impl Payments {
    /// Before an account is deleted: its Stripe subscription, if one is still renewing, is
    /// set to end with the paid period (no further charge). A Stripe failure is returned, so
    /// the deletion is refused and can be retried rather than leaving a renewing subscription
    /// behind an erased account.
    pub async fn stop_renewal_for_deletion(&self, user_id: &str) -> ApiResult<bool> {
        if !self.settings().stripe_configured() {
            let state = self.subscription(user_id).await?;
            if state
                .stripe
                .is_some_and(|s| s.status == "active" || s.status == "past_due")
            {
                tracing::warn!(user_id, "deleting an account whose Stripe subscription cannot be cancelled: STRIPE_SECRET_KEY is unset");
            }
            return Ok(false);
        }
        match self.cancel_subscription(user_id).await {
            Ok(_) => Ok(true),
            Err(ApiError::ConflictCode("noSubscription", _)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_is_subscription_mode_with_the_plan_price() {
        let base = url::Url::parse("https://app.example/billing?tab=1").unwrap();
        let form = subscription_form(
            "u1",
            Plan::Pro,
            "price_fake_pro",
            Err("a@example.com"),
            &base,
        );
        let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("subscription"));
        assert_eq!(get("line_items[0][price]"), Some("price_fake_pro"));
        assert_eq!(get("customer_email"), Some("a@example.com"));
        assert_eq!(get("customer"), None);
        assert_eq!(get("subscription_data[metadata][user_id]"), Some("u1"));
        assert_eq!(
            get("success_url"),
            Some("https://app.example/billing?tab=1&subscription=success&plan=pro")
        );
        let form = subscription_form("u1", Plan::Basic, "p", Ok("cus_1"), &base);
        assert!(form.iter().any(|(k, v)| k == "customer" && v == "cus_1"));
    }

    #[test]
    fn prices_map_to_plans() {
        let b = BillingSettings {
            stripe_price_basic: "price_b".into(),
            ..Default::default()
        };
        assert_eq!(b.plan_of_price("price_b"), Some(Plan::Basic));
        assert_eq!(b.plan_of_price(""), None);
        assert_eq!(b.plan_of_price("price_x"), None);
        let sub = |plan: &str, ends| Subscription {
            plan: plan.into(),
            status: "active".into(),
            ends_at: ends,
        };
        assert!(holds_paid_plan(&sub("basic", Some(11)), 10));
        assert!(!holds_paid_plan(&sub("basic", Some(10)), 10));
        assert!(!holds_paid_plan(&sub("free", None), 10));
    }
}
