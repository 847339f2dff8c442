//! The Standard Webhooks signature scheme (<https://www.standardwebhooks.com/>): secrets
//! `whsec_<base64>`, and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`. Used to sign outgoing task webhooks and to
//! verify incoming provider webhooks.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook timestamp is outside the accepted window")]
    Stale,
    #[error("no v1 signature in the header matches")]
    Mismatch,
}

/// The key bytes of a `whsec_…` secret (the prefix is optional), or `None` when it is not
/// base64 or empty.
pub fn parse_secret(whsec: &str) -> Option<Vec<u8>> {
    let raw = whsec.trim();
    let raw = raw.strip_prefix("whsec_").unwrap_or(raw);
    STANDARD.decode(raw).ok().filter(|k| !k.is_empty())
}

fn mac(secret: &[u8], msg_id: &str, timestamp_secs: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1,<base64 HMAC-SHA256(secret, "{msg_id}.{timestamp}.{body}")>`.
pub fn sign(secret: &[u8], msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let tag = mac(secret, msg_id, timestamp_secs, body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Checks a `webhook-signature` header (one or more space-separated `v1,<base64>` entries;
/// other versions are ignored) in constant time, and that the timestamp is within
/// `tolerance_secs` of `now_secs` either way.
pub fn verify(
    secret: &[u8],
    msg_id: &str,
    timestamp_secs: i64,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if now_secs.abs_diff(timestamp_secs) > tolerance_secs.max(0) as u64 {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, msg_id, timestamp_secs, body);
    let matched = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's published test vector (also used by its reference libraries);
    // python3: base64.b64encode(hmac.new(b64decode(key), b'msg_….1614265330.{"test": 2432232314}',
    // sha256).digest()) gives the same value.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_vector() {
        let key = parse_secret(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), SIG);
        assert_eq!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Some(key));
    }

    #[test]
    fn verifies_within_tolerance_and_among_several_entries() {
        let key = parse_secret(SECRET).unwrap();
        assert_eq!(verify(&key, ID, TS, SIG, BODY, TS + 10, 300), Ok(()));
        let several = format!("v2,abc v1,AAAA {SIG}");
        assert_eq!(verify(&key, ID, TS, &several, BODY, TS - 10, 300), Ok(()));
    }

    #[test]
    fn refuses_tampering_wrong_keys_and_stale_timestamps() {
        let key = parse_secret(SECRET).unwrap();
        let err = |r| assert_eq!(r, Err(SignatureError::Mismatch));
        err(verify(&key, ID, TS, SIG, b"{\"test\": 1}", TS, 300));
        err(verify(&key, "msg_other", TS, SIG, BODY, TS, 300));
        err(verify(&key, ID, TS + 1, SIG, BODY, TS, 300));
        err(verify(b"another key", ID, TS, SIG, BODY, TS, 300));
        err(verify(&key, ID, TS, "v1,not base64!", BODY, TS, 300));
        err(verify(&key, ID, TS, "", BODY, TS, 300));
        let stale = verify(&key, ID, TS, SIG, BODY, TS + 301, 300);
        assert_eq!(stale, Err(SignatureError::Stale));
        let future = verify(&key, ID, TS, SIG, BODY, TS - 301, 300);
        assert_eq!(future, Err(SignatureError::Stale));
    }

    #[test]
    fn refuses_secrets_that_are_not_base64() {
        assert_eq!(parse_secret("whsec_"), None);
        assert_eq!(parse_secret("whsec_***"), None);
    }
}
