//! `Payments`: the payment use cases (checkout, the Stripe webhook, local completion in
//! development, admin refunds). Routes parse, call one of these, and shape the answer; every
//! transaction is opened here or in the store, never in a route.

use std::sync::Arc;

use super::stripe::{self, CheckoutRequest, StripeError};
use super::{webhook, BillingSettings, CreditPackage};
use crate::auth::{require_admin, AuthUser};
use crate::domain::money::{to_major, to_minor};
use crate::domain::plans::expiry_after;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::{Completion, NewPayment, Payment, Reversal, Store, StoreError};

/// What a checkout asks for (already parsed from the request).
pub struct CheckoutInput {
    pub package: String,
    pub return_url: String,
    /// Development only: a local payment completed by `dev_complete`, no Stripe.
    pub local_test: bool,
}

/// What an admin refund asks for.
pub struct RefundInput {
    pub payment_id: String,
    /// In the payment's currency (`4.95`); `None` means everything still refundable.
    pub amount: Option<f64>,
    /// Refund even when the user has already spent some of the credits.
    pub force: bool,
}

/// A refund that went through: the money (if any moved at Stripe) and the credits.
pub struct RefundDone {
    pub payment: Payment,
    pub stripe: Option<stripe::Refund>,
    pub amount_minor: i64,
    pub reversal: Reversal,
}

#[derive(Clone)]
pub struct Payments {
    store: Store,
    settings: Arc<BillingSettings>,
    /// Local test payments and `dev_complete` exist outside production only.
    production: bool,
}

pub fn not_configured(what: &str) -> ApiError {
    ApiError::Unavailable(
        "paymentsNotConfigured",
        format!("payments are not configured on this server ({what} is unset)"),
    )
}

pub(super) fn stripe_error(e: StripeError) -> ApiError {
    tracing::warn!(error = %e, "Stripe call failed");
    match e {
        StripeError::Api { status, message } if (400..500).contains(&status) => {
            ApiError::BadRequest(format!("Stripe refused the request: {message}"))
        }
        other => ApiError::Unavailable("unavailable", format!("payment provider: {other}")),
    }
}

/// `returnUrl` with `paymentId` and `status` added to its query.
fn return_to(base: &url::Url, payment_id: &str, status: &str) -> String {
    let mut u = base.clone();
    u.query_pairs_mut()
        .append_pair("paymentId", payment_id)
        .append_pair("status", status);
    u.to_string()
}

impl Payments {
    pub fn new(store: Store, settings: BillingSettings, production: bool) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            production,
        }
    }

    pub fn settings(&self) -> &BillingSettings {
        &self.settings
    }

    pub fn local_test_payments(&self) -> bool {
        !self.production
    }

    /// Records a pending payment for a package and, unless it is a local test payment,
    /// opens its Stripe Checkout Session.
    pub async fn checkout(&self, user_id: &str, input: &CheckoutInput) -> ApiResult<Payment> {
        let (package, return_url) = self.check_checkout(input)?;
        let payment = self
            .store
            .insert_payment(NewPayment {
                user_id,
                package: &package.id,
                credits: package.credits,
                amount_minor: package.price_minor,
                currency: &self.settings.payment_currency,
                provider: if input.local_test { "local" } else { "stripe" },
            })
            .await?;
        if input.local_test {
            return Ok(payment);
        }
        self.start_checkout(&payment, package, &return_url).await
    }

    /// The package and return URL of a checkout, after the configuration checks.
    fn check_checkout(&self, input: &CheckoutInput) -> ApiResult<(&CreditPackage, url::Url)> {
        let b = &*self.settings;
        if input.local_test && self.production {
            return Err(ApiError::Forbidden(
                "forbidden",
                "localTest payments exist in development only".into(),
            ));
        }
        if !input.local_test && !b.stripe_configured() {
            let mut e = not_configured("STRIPE_SECRET_KEY");
            if let (false, ApiError::Unavailable(_, m)) = (self.production, &mut e) {
                m.push_str("; in development, send \"localTest\": true for a local test payment");
            }
            return Err(e);
        }
        let package = b.package(&input.package).ok_or_else(|| {
            let ids: Vec<_> = b.credit_packages.iter().map(|p| p.id.as_str()).collect();
            ApiError::field("package", format!("one of {}", ids.join(", ")))
        })?;
        Ok((package, self.return_url(&input.return_url)?))
    }

    /// A checkout's `returnUrl`: an http(s) URL or a path, on an allowed origin (422
    /// `invalidReturnUrl` otherwise; see [`super::return_url`]).
    pub(super) fn return_url(&self, raw: &str) -> ApiResult<url::Url> {
        let return_url = url::Url::parse(raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && raw.len() <= 2048)
            .map(|u| u.to_string())
            .or_else(|| raw.starts_with('/').then(|| raw.to_string()))
            .ok_or_else(|| ApiError::field("returnUrl", "must be an http(s) URL or a path"))?;
        super::return_url::check(
            &return_url,
            &self.settings.payment_return_origins,
            self.production,
        )
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// Opens the Checkout Session for a pending payment; a refused or failed call marks the
    /// payment `failed`.
    async fn start_checkout(
        &self,
        payment: &Payment,
        package: &CreditPackage,
        return_url: &url::Url,
    ) -> ApiResult<Payment> {
        let b = &*self.settings;
        let req = CheckoutRequest {
            payment_id: &payment.id,
            user_id: &payment.user_id,
            package,
            currency: &b.payment_currency,
            success_url: return_to(return_url, &payment.id, "success"),
            cancel_url: return_to(return_url, &payment.id, "cancelled"),
        };
        match stripe::create_checkout_session(b, &req).await {
            Ok(session) => {
                let url = session.url.unwrap_or_default();
                Ok(self
                    .store
                    .set_checkout(&payment.id, &session.id, &url)
                    .await?)
            }
            Err(e) => {
                let mut tx = self.store.begin().await?;
                self.store
                    .set_payment_status(&mut tx, &payment.id, &["pending"], "failed")
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Err(stripe_error(e))
            }
        }
    }

    /// The caller's payment (any payment for an admin); others' look missing.
    pub async fn visible(&self, user: &AuthUser, id: &str) -> ApiResult<Payment> {
        let p = match self.store.get_payment(id).await {
            Err(StoreError::NotFound) => return Err(ApiError::not_found("payment")),
            other => other?,
        };
        if p.user_id != user.id && require_admin(&self.store, user).await.is_err() {
            return Err(ApiError::not_found("payment"));
        }
        Ok(p)
    }

    /// A Stripe webhook delivery: signature checked against the raw body, each event applied
    /// once.
    pub async fn stripe_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> ApiResult<webhook::Outcome> {
        let b = &*self.settings;
        if b.stripe_webhook_secret.is_empty() {
            return Err(not_configured("STRIPE_WEBHOOK_SECRET"));
        }
        let sig = signature
            .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature header".into()))?;
        let secret = b.stripe_webhook_secret.expose();
        stripe::verify_signature(
            body,
            sig,
            secret,
            now_ms() / 1000,
            b.stripe_webhook_tolerance_secs,
        )
        .map_err(|e| ApiError::BadRequest(format!("webhook rejected: {e}")))?;
        let event: webhook::Event = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
        Ok(webhook::handle(&self.store, b, &event).await?)
    }

    /// Development only: completes a pending local test payment (`localTest`, provider
    /// `local`) as a paid Checkout Session would; a Stripe payment is refused (403
    /// `notLocalTestPayment`), whatever its state at Stripe.
    pub async fn dev_complete(&self, user: &AuthUser, id: &str) -> ApiResult<Payment> {
        if self.production {
            return Err(ApiError::Forbidden(
                "forbidden",
                "dev-complete is disabled in production".into(),
            ));
        }
        let p = self.visible(user, id).await?;
        if p.provider != "local" {
            return Err(ApiError::Forbidden(
                "notLocalTestPayment",
                "dev-complete completes local test payments only; this payment goes through Stripe"
                    .into(),
            ));
        }
        let expires = expiry_after(now_ms(), self.settings.purchased_credit_days);
        let mut tx = self.store.begin().await?;
        let done = self
            .store
            .complete_payment(&mut tx, &p.id, None, expires)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        let Completion::Granted(p) = done else {
            return Err(ApiError::Conflict(format!(
                "payment is already {}",
                p.status
            )));
        };
        Ok(self.store.get_payment(&p.id).await?)
    }

    /// Admin only: refunds all or part of a payment at Stripe and takes the matching credits
    /// back from the payment's own lot. When the user already spent some of them, refuses
    /// (409 naming how many) unless `force`, before any money moves.
    pub async fn refund(&self, admin: &AuthUser, input: &RefundInput) -> ApiResult<RefundDone> {
        require_admin(&self.store, admin).await?;
        if !self.settings.stripe_configured() && self.production {
            return Err(not_configured("STRIPE_SECRET_KEY"));
        }
        let p = self.visible(admin, &input.payment_id).await?;
        let amount = amount_to_refund(&p, input.amount)?;
        let total = p.refunded_minor + amount;
        let (owed, recoverable) = self.store.reversal_preview(&p, total).await?;
        let spent = owed - recoverable;
        if spent > 0 && !input.force {
            return Err(ApiError::Conflict(format!(
                "the user has already spent {spent} of the {owed} credits this refund takes back \
                 (only {recoverable} are left to take); send \"force\": true to refund anyway"
            )));
        }
        let stripe = self.refund_money(&p, amount, total).await?;
        let mut tx = self.store.begin().await?;
        let (payment, reversal) = self.store.reverse_payment(&mut tx, &p.id, total).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(RefundDone {
            payment,
            stripe,
            amount_minor: amount,
            reversal,
        })
    }

    /// Refunds the money at Stripe (a local test payment, in development, has none).
    async fn refund_money(
        &self,
        p: &Payment,
        amount: i64,
        total: i64,
    ) -> ApiResult<Option<stripe::Refund>> {
        if p.provider != "stripe" {
            if self.production {
                return Err(ApiError::Conflict(
                    "local test payments cannot be refunded in production".into(),
                ));
            }
            return Ok(None);
        }
        let b = &*self.settings;
        if !b.stripe_configured() {
            return Err(not_configured("STRIPE_SECRET_KEY"));
        }
        let intent = p.stripe_payment_intent.as_deref().ok_or_else(|| {
            ApiError::Conflict("Stripe has not reported this payment's payment intent".into())
        })?;
        let key = format!("refund_{}_{total}", p.id);
        let r = stripe::create_refund(b, intent, amount, &p.id, &key)
            .await
            .map_err(stripe_error)?;
        Ok(Some(r))
    }
}

/// The amount to refund in minor units: `requested` (in the currency) or all that is left.
fn amount_to_refund(p: &Payment, requested: Option<f64>) -> ApiResult<i64> {
    let cur = p.currency.to_ascii_uppercase();
    let refundable = p.refundable_minor();
    if refundable <= 0 {
        return Err(ApiError::Conflict(format!(
            "payment is {}: nothing to refund",
            p.status
        )));
    }
    let Some(a) = requested else {
        return Ok(refundable);
    };
    to_minor(a, &cur)
        .filter(|m| (1..=refundable).contains(m))
        .ok_or_else(|| {
            ApiError::field(
                "amount",
                format!("between 0.01 and {} {cur}", to_major(refundable, &cur)),
            )
        })
}
