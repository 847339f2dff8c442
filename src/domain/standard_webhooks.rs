//! The Standard Webhooks signature scheme (<https://www.standardwebhooks.com>): a message is
//! signed as `v1,<base64 HMAC-SHA256>` over `"{webhook-id}.{webhook-timestamp}.{body}"` with
//! a secret shown as `whsec_<base64>`. Used to sign our outgoing webhooks and to verify
//! incoming ones (OpenAI's `video.completed` / `video.failed`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook timestamp is outside the accepted window")]
    Timestamp,
    #[error("no signature matches")]
    Mismatch,
}

/// The secret's key bytes: `whsec_` stripped (if present), the rest base64-decoded. `None`
/// for an empty or undecodable secret.
pub fn parse_secret(whsec: &str) -> Option<Vec<u8>> {
    let raw = whsec.trim();
    let raw = raw.strip_prefix("whsec_").unwrap_or(raw);
    STANDARD.decode(raw).ok().filter(|k| !k.is_empty())
}

fn mac(secret: &[u8], msg_id: &str, timestamp_secs: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this never fails.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// `v1,<base64>` of HMAC-SHA256 over `"{msg_id}.{timestamp}.{body}"`.
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
    if now_secs.abs_diff(timestamp_secs) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Timestamp);
    }
    let expected = mac(secret, msg_id, timestamp_secs, body);
    let found = signature_header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if found {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries (a fake secret).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_like_the_reference_libraries() {
        let key = parse_secret(SECRET).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), SIG);
    }

    #[test]
    fn verifies_any_listed_signature_within_the_window() {
        let key = parse_secret(SECRET).unwrap();
        let header = format!("v1,bm90IGl0 v2,xyz {SIG}");
        assert_eq!(verify(&key, ID, TS, &header, BODY, TS + 299, 300), Ok(()));
        assert_eq!(verify(&key, ID, TS, SIG, BODY, TS - 299, 300), Ok(()));
    }

    #[test]
    fn refuses_tampering_and_stale_timestamps() {
        let key = parse_secret(SECRET).unwrap();
        let m = Err(SignatureError::Mismatch);
        assert_eq!(verify(&key, ID, TS, SIG, b"{}", TS, 300), m);
        assert_eq!(verify(&key, "msg_other", TS, SIG, BODY, TS, 300), m);
        assert_eq!(verify(&key, ID, TS + 1, SIG, BODY, TS + 1, 300), m);
        assert_eq!(verify(&key, ID, TS, "", BODY, TS, 300), m);
        assert_eq!(verify(&key, ID, TS, "v1,!!", BODY, TS, 300), m);
        let late = Err(SignatureError::Timestamp);
        assert_eq!(verify(&key, ID, TS, SIG, BODY, TS + 301, 300), late);
        assert_eq!(verify(&key, ID, TS, SIG, BODY, TS - 301, 300), late);
    }

    #[test]
    fn secrets_must_decode() {
        assert_eq!(parse_secret("whsec_"), None);
        assert_eq!(parse_secret("whsec_***"), None);
        assert_eq!(parse_secret("aGk="), Some(b"hi".to_vec()));
    }
}
