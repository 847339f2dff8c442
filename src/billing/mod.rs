//! Billing: plans, prices, the credit ledger's rules, payment packages and Stripe.
//!
//! Credits live as lots (with an origin and an optional expiry) and every movement is a
//! ledger row; the store ([`crate::store`], `ledger.rs` and `payments.rs`) moves them inside
//! database transactions. This module holds the settings and the pure rules: which plan may
//! generate ([`plans`]), what a task costs and what packages sell ([`prices`]), how spending
//! picks lots and how refunds are sized ([`crate::domain::credits`]), and the Stripe HTTP client and webhook
//! verification ([`stripe`], [`webhook`]).

pub mod generating;
pub mod plans;
pub mod prices;
pub mod return_url;
pub mod service;
pub mod stripe;
pub mod subscriptions;
pub mod webhook;
mod webhook_subs;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use tokio_util::sync::CancellationToken;

use crate::domain::plans::expiry_after;
use crate::secret::Secret;
use crate::store::Store;

pub use prices::CreditPackage;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Billing settings, flattened into `config::Settings` (env `TASKHUB_<FIELD>`, Stripe's
/// three without the prefix; read from file and env in `config/tests.rs`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingSettings {
    /// Credits every new user gets (0: none).
    pub signup_bonus_credits: i64,
    /// Days until the signup bonus expires (0: never).
    pub signup_bonus_days: i64,
    /// Days until purchased credits expire (0: never).
    pub purchased_credit_days: i64,
    /// Refunded credits expire with the lots they were spent from, but never sooner than
    /// this many days after the refund (0: exactly with those lots).
    pub refund_grace_days: i64,
    /// Comma-separated plans allowed to generate videos. The seed's rule ("free cannot
    /// generate") is `basic,pro`.
    pub generating_plans: generating::GeneratingPlans,
    pub free_monthly_credits: i64,
    pub basic_monthly_credits: i64,
    pub pro_monthly_credits: i64,
    pub price_text_standard: i64,
    pub price_text_hd: i64,
    pub price_image_standard: i64,
    pub price_image_hd: i64,
    /// ISO currency of the packages (`CNY`).
    pub payment_currency: String,
    pub credit_packages: Vec<CreditPackage>,
    pub stripe_api_base: String,
    pub stripe_secret_key: Secret,
    pub stripe_webhook_secret: Secret,
    /// How old a `Stripe-Signature` timestamp may be, in seconds.
    pub stripe_webhook_tolerance_secs: i64,
    /// Accept `X-API-Key` as authentication (and offer the key routes).
    pub api_keys: bool,
    /// How often expired credit lots are swept into `expired` ledger rows.
    pub credit_sweep_interval_secs: u64,
    /// Comma-separated origins (`https://app.example.com`) a payment's `returnUrl` may point
    /// at; a relative `returnUrl` is resolved against the first. Empty: loopback origins in
    /// development, none in production. See [`return_url`].
    pub payment_return_origins: String,
    /// Housekeeping: refresh tokens expired or revoked longer ago than this are deleted.
    pub refresh_token_retention_days: i64,
    /// Housekeeping: processed Stripe webhook event ids older than this are deleted (Stripe
    /// retries an event for 3 days, so keep this above that).
    pub webhook_event_retention_days: i64,
    /// How often the housekeeping sweep runs.
    pub prune_interval_secs: u64,
    /// Stripe Price id (`price_…`) of the basic plan (`STRIPE_PRICE_BASIC`); empty: the
    /// plan cannot be bought (503 `subscriptionsNotConfigured`).
    pub stripe_price_basic: String,
    /// Stripe Price id of the pro plan (`STRIPE_PRICE_PRO`).
    pub stripe_price_pro: String,
    /// A Stripe-bought plan whose paid period ended this many seconds ago (and was not
    /// renewed) moves to free; generating is refused from the period's end regardless.
    pub subscription_grace_secs: i64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            signup_bonus_credits: 100,
            signup_bonus_days: 30,
            purchased_credit_days: 90,
            refund_grace_days: 7,
            generating_plans: Default::default(),
            free_monthly_credits: 0,
            basic_monthly_credits: 500,
            pro_monthly_credits: 2000,
            price_text_standard: 20,
            price_text_hd: 30,
            price_image_standard: 25,
            price_image_hd: 35,
            payment_currency: "CNY".into(),
            credit_packages: prices::default_packages(),
            stripe_api_base: "https://api.stripe.com".into(),
            stripe_secret_key: Secret::default(),
            stripe_webhook_secret: Secret::default(),
            stripe_webhook_tolerance_secs: 300,
            api_keys: true,
            credit_sweep_interval_secs: 60,
            payment_return_origins: String::new(),
            refresh_token_retention_days: 30,
            webhook_event_retention_days: 30,
            prune_interval_secs: 3600,
            stripe_price_basic: String::new(),
            stripe_price_pro: String::new(),
            subscription_grace_secs: 86400,
        }
    }
}

impl BillingSettings {
    pub fn stripe_configured(&self) -> bool {
        !self.stripe_secret_key.is_empty()
    }

    /// The grant every new user gets, if any.
    pub fn signup_bonus(&self, now: i64) -> Option<crate::store::SignupBonus> {
        (self.signup_bonus_credits > 0).then(|| crate::store::SignupBonus {
            credits: self.signup_bonus_credits,
            expires_at: expiry_after(now, self.signup_bonus_days),
        })
    }

    pub fn refund_grace_ms(&self) -> i64 {
        self.refund_grace_days.max(0).saturating_mul(DAY_MS)
    }
}

/// Sweeps expired lots every `credit_sweep_interval_secs` until shutdown.
pub fn spawn_expiry_sweep(store: Store, every_secs: u64, shutdown: CancellationToken) {
    let every = Duration::from_secs(every_secs);
    crate::periodic::spawn_every(every, shutdown, move || {
        let store = store.clone();
        async move {
            match store
                .expire_credits(crate::domain::time::now_ms(), 500)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(lots = n, "expired credit lots"),
                Err(e) => tracing::warn!(error = %e, "credit expiry sweep failed"),
            }
        }
    });
}
