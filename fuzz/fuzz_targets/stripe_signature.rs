//! The `Stripe-Signature` header of a webhook (`billing::stripe::verify_signature`).
//!
//! Input: 8 bytes `now` (i64 LE), 4 bytes tolerance (u32 LE), 1 mode byte, then the header
//! up to the first `\n` and the payload after it. With an odd mode byte the header gets a
//! correct `v1` for its own `t` appended (so the fuzzer reaches the timestamp check, which
//! only runs after a signature matched); mode & 2 also checks `sign` for a fuzzed `t`.
//!
//! Properties beyond "no panic":
//! - never accepted without a `v1` that is the HMAC-SHA256 of `t.payload` under the secret,
//!   with `t` (the last `t=`) a number within the tolerance of `now` (computed in i128);
//! - never accepted under another secret;
//! - the verdict (accepted, malformed, mismatch, stale) equals a plain model of the scheme;
//! - `sign(payload, secret, t)` verifies at `now = t` and at the tolerance's edges, and is
//!   stale one second beyond.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use taskhub::billing::stripe::{sign, verify_signature, SignatureError};

const SECRET: &str = "whsec_FAKE_fuzz_secret";

fn hmac_hex(secret: &str, t: &str, payload: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(t.as_bytes());
    m.update(b".");
    m.update(payload);
    hex::encode(m.finalize().into_bytes())
}

/// The scheme, written plainly: the last `t=`, every `v1=`, i128 time arithmetic.
fn model(payload: &[u8], header: &str, now: i64, tol: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            match k {
                "t" => t = Some(v),
                "v1" => sigs.push(v),
                _ => {}
            }
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    let ts: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let want = hmac_hex(SECRET, t, payload);
    if !sigs.iter().any(|s| s.to_ascii_lowercase() == want) {
        return Err(SignatureError::Mismatch);
    }
    if (i128::from(now) - i128::from(ts)).abs() > i128::from(tol) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let now = i64::from_le_bytes(data[0..8].try_into().unwrap());
    let tol = i64::from(u32::from_le_bytes(data[8..12].try_into().unwrap()));
    let mode = data[12];
    let rest = &data[13..];
    let (header, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b"{}"[..]),
    };
    // A header value reaches the handler as a `&str` only when it is valid UTF-8.
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let mut header = header.to_string();
    if mode & 1 == 1 {
        let t = header
            .split(',')
            .filter_map(|p| p.trim().split_once('='))
            .filter(|(k, _)| *k == "t")
            .last()
            .map(|(_, v)| v.to_string());
        if let Some(t) = t {
            header = format!("{header},v1={}", hmac_hex(SECRET, &t, payload));
        }
    }

    let got = verify_signature(payload, &header, SECRET, now, tol);
    assert_eq!(
        got,
        model(payload, &header, now, tol),
        "header {header:?} now {now} tol {tol}"
    );
    if got.is_ok() {
        assert_ne!(
            verify_signature(payload, &header, "whsec_FAKE_other", now, tol),
            Ok(()),
            "accepted under another secret"
        );
    }

    if mode & 2 == 2 {
        // `now` doubles as the signing time here.
        let t = now;
        let h = sign(payload, SECRET, t);
        assert_eq!(verify_signature(payload, &h, SECRET, t, tol), Ok(()));
        for edge in [t.checked_add(tol), t.checked_sub(tol)]
            .into_iter()
            .flatten()
        {
            assert_eq!(verify_signature(payload, &h, SECRET, edge, tol), Ok(()));
        }
        for out in [t.checked_add(tol + 1), t.checked_sub(tol + 1)]
            .into_iter()
            .flatten()
        {
            assert_eq!(
                verify_signature(payload, &h, SECRET, out, tol),
                Err(SignatureError::Stale)
            );
        }
    }
});
