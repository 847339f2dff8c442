//! Stripe over its HTTP API: Checkout Sessions and Refunds (form-encoded, `Bearer` secret
//! key, an `Idempotency-Key` on every POST), and `Stripe-Signature` verification for webhooks.
//!
//! No SDK: the two calls and the signature scheme are small and stable, and a plain client
//! lets tests point `STRIPE_API_BASE` at a local mock that checks every field.

use std::sync::OnceLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::{BillingSettings, CreditPackage};

/// One HTTP client for every Stripe call (connection reuse; built on first use).
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object.
    #[error("Stripe error ({status}): {message}")]
    Api { status: u16, message: String },
    /// Stripe could not be reached or answered garbage.
    #[error("Stripe unreachable: {0}")]
    Transport(String),
}

/// What a Checkout Session is made from.
pub struct CheckoutRequest<'a> {
    pub payment_id: &'a str,
    pub user_id: &'a str,
    pub package: &'a CreditPackage,
    pub currency: &'a str,
    pub success_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: Option<String>,
    pub amount: i64,
}

/// The form fields of a one-off Checkout Session with inline `price_data`.
pub fn checkout_form(req: &CheckoutRequest<'_>) -> Vec<(String, String)> {
    let p = req.package;
    [
        ("mode", "payment".to_string()),
        ("client_reference_id", req.user_id.to_string()),
        ("success_url", req.success_url.clone()),
        ("cancel_url", req.cancel_url.clone()),
        ("line_items[0][quantity]", "1".into()),
        (
            "line_items[0][price_data][currency]",
            req.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            p.price_minor.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            format!("{} credits ({})", p.credits, p.name),
        ),
        ("metadata[payment_id]", req.payment_id.to_string()),
        ("metadata[user_id]", req.user_id.to_string()),
        ("metadata[package]", p.id.clone()),
        ("metadata[credits]", p.credits.to_string()),
        (
            "payment_intent_data[metadata][payment_id]",
            req.payment_id.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Creates a Checkout Session. `Idempotency-Key` is our payment id, so a retried call can
/// never open a second session for the same payment.
pub async fn create_checkout_session(
    s: &BillingSettings,
    req: &CheckoutRequest<'_>,
) -> Result<CheckoutSession, StripeError> {
    let v = post(
        s,
        "/v1/checkout/sessions",
        &checkout_form(req),
        req.payment_id,
    )
    .await?;
    serde_json::from_value(v).map_err(|e| StripeError::Transport(format!("bad session: {e}")))
}

/// Refunds `amount_minor` of a payment intent. The idempotency key names the refund state
/// (payment and cumulative amount), so a retried admin request refunds once.
pub async fn create_refund(
    s: &BillingSettings,
    payment_intent: &str,
    amount_minor: i64,
    payment_id: &str,
    idempotency_key: &str,
) -> Result<Refund, StripeError> {
    let form = vec![
        ("payment_intent".to_string(), payment_intent.to_string()),
        ("amount".to_string(), amount_minor.to_string()),
        ("metadata[payment_id]".to_string(), payment_id.to_string()),
    ];
    let v = post(s, "/v1/refunds", &form, idempotency_key).await?;
    serde_json::from_value(v).map_err(|e| StripeError::Transport(format!("bad refund: {e}")))
}

/// POSTs a form; a transport failure is retried once with the same idempotency key.
pub(super) async fn post(
    s: &BillingSettings,
    path: &str,
    form: &[(String, String)],
    idempotency_key: &str,
) -> Result<Value, StripeError> {
    let url = format!("{}{path}", s.stripe_api_base.trim_end_matches('/'));
    let mut attempt = 0;
    let resp = loop {
        attempt += 1;
        let sent = http()
            .post(&url)
            .bearer_auth(s.stripe_secret_key.expose())
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await;
        match sent {
            Ok(r) => break r,
            Err(e) if attempt < 2 && (e.is_connect() || e.is_timeout()) => {
                tracing::warn!(path, error = %e, "Stripe call failed; retrying with the same idempotency key");
            }
            Err(e) => return Err(StripeError::Transport(e.without_url().to_string())),
        }
    };
    let status = resp.status().as_u16();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| StripeError::Transport(format!("unreadable answer: {e}")))?;
    if !(200..300).contains(&status) {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        return Err(StripeError::Api { status, message });
    }
    Ok(body)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("no v1 signature matches the payload")]
    Mismatch,
    #[error("signature timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &str, t: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(t.as_bytes());
    m.update(b".");
    m.update(payload);
    m
}

/// A `Stripe-Signature` header value for `payload` at time `t` (tests, local tools).
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let sig = hex::encode(mac(secret, &t.to_string(), payload).finalize().into_bytes());
    format!("t={t},v1={sig}")
}

/// Checks `header` (`t=…,v1=…[,v1=…]`): an HMAC-SHA256 of `t.payload` under `secret`
/// compared in constant time, with `t` within `tolerance_secs` of `now_secs`.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    let ts: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = sigs.iter().any(|sig| {
        hex::decode(sig).is_ok_and(|bytes| mac(secret, t, payload).verify_slice(&bytes).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    // In i128: `t` is whatever the header says, and `now - t` may not fit an i64.
    if (i128::from(now_secs) - i128::from(ts)).abs() > i128::from(tolerance_secs) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_fake_test_secret";

    #[test]
    fn accepts_its_own_signature_and_rejects_tampering() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(body, SECRET, 1000);
        assert_eq!(verify_signature(body, &h, SECRET, 1000, 300), Ok(()));
        assert_eq!(verify_signature(body, &h, SECRET, 1300, 300), Ok(()));
        assert_eq!(
            verify_signature(br#"{"id":"evt_2"}"#, &h, SECRET, 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(body, &h, "whsec_other", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(body, &h, SECRET, 1301, 300),
            Err(SignatureError::Stale)
        );
        // A signature for another timestamp does not carry over.
        let moved = h.replace("t=1000", "t=1200");
        assert_eq!(
            verify_signature(body, &moved, SECRET, 1200, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_v1_may_match_and_garbage_is_malformed() {
        let body = b"{}";
        let good = sign(body, SECRET, 5);
        let v1 = good.split("v1=").nth(1).unwrap();
        let both = format!("t=5,v1={},v1={v1},v0=abc", "00".repeat(32));
        assert_eq!(verify_signature(body, &both, SECRET, 5, 300), Ok(()));
        for bad in ["", "v1=abc", "t=x,v1=abc", "t=5"] {
            assert_eq!(
                verify_signature(body, bad, SECRET, 5, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    /// Found by `fuzz/fuzz_targets/stripe_signature.rs`: `now - t` overflowed an i64 for a
    /// signed `t` far from now (a panic with overflow checks; without them, a wrapped
    /// difference of `i64::MIN` stayed negative after `abs` and passed as fresh).
    #[test]
    fn a_timestamp_beyond_i64_arithmetic_is_stale() {
        let body = b"{}";
        for (t, now) in [
            (5_763_027_892, i64::MIN + 1_763_027_892),
            (i64::MIN, 0),
            (i64::MIN, 1_763_027_892),
            (i64::MAX, -1),
            (1_000 + i64::MIN, 1_000),
        ] {
            let h = sign(body, SECRET, t);
            assert_eq!(
                verify_signature(body, &h, SECRET, now, 300),
                Err(SignatureError::Stale),
                "t={t} now={now}"
            );
        }
        let h = sign(body, SECRET, i64::MIN);
        assert_eq!(
            verify_signature(body, &h, SECRET, i64::MIN + 300, 300),
            Ok(())
        );
    }

    #[test]
    fn checkout_form_has_inline_price_and_references() {
        let pkg = BillingSettings::default().credit_packages[0].clone();
        let req = CheckoutRequest {
            payment_id: "pay_1",
            user_id: "u1",
            package: &pkg,
            currency: "CNY",
            success_url: "https://app/ok".into(),
            cancel_url: "https://app/no".into(),
        };
        let form = checkout_form(&req);
        let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("990"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("cny"));
        assert_eq!(get("client_reference_id"), Some("u1"));
        assert_eq!(get("metadata[payment_id]"), Some("pay_1"));
    }
}
