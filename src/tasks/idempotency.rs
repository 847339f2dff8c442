//! `Idempotency-Key` on task creation: a client that lost the answer to its `POST` (a
//! timeout, a node killed mid-request) sends the same request with the same key again and
//! gets the task it made the first time, charged once, instead of a second one.
//!
//! A key is the user's own (another user's key is another key) and stays bound to its task
//! for as long as the task exists. The request is fingerprinted (SHA-256 of the task's
//! fields, the image's bytes included): the same key with a different request is refused 422
//! `idempotencyKeyReused`, so a client bug that reuses keys is told, not answered with the
//! wrong task.

use sha2::{Digest, Sha256};

use super::usecases::TaskInput;
use crate::error::{ApiError, ApiResult};
use crate::store::{IdempotencyKey, Task};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set (`true`) on the answer to a repeated request.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// A created task, and whether it was made by an earlier request with the same key.
#[derive(Debug)]
pub struct Created {
    pub task: Task,
    pub repeated: bool,
}

/// The header's value, checked: 1 to [`MAX_KEY_BYTES`] visible ASCII characters (a UUID is
/// the usual choice). `None` when the header is absent.
pub fn parse_key(raw: Option<&[u8]>) -> ApiResult<Option<String>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    if raw.is_empty() || raw.len() > MAX_KEY_BYTES || !raw.iter().all(visible) {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
        )));
    }
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}

/// The key with the fingerprint of `input` (and of the task it retries, if any): every field
/// that makes the task, each length-prefixed (so no two different requests run together into
/// the same bytes), and the image's own bytes.
pub fn key_for(key: String, input: &TaskInput, retry_of: Option<&str>) -> IdempotencyKey {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(retry_of.unwrap_or("").as_bytes());
    field(input.kind().as_bytes());
    field(input.prompt.as_bytes());
    field(input.model.as_bytes());
    field(&input.seconds.to_le_bytes());
    field(input.size.as_bytes());
    field(input.quality.as_bytes());
    for opt in [&input.webhook_url, &input.reference_image_url] {
        match opt {
            Some(s) => field(format!("+{s}").as_bytes()),
            None => field(b"-"),
        }
    }
    match &input.image {
        Some(image) => {
            field(image.ext.as_bytes());
            field(&image.bytes);
        }
        None => field(b"-"),
    }
    IdempotencyKey {
        key,
        fingerprint: hex::encode(h.finalize()),
    }
}

/// The refusal of a key bound to a different request.
pub fn reused() -> ApiError {
    ApiError::Unprocessable(
        "idempotencyKeyReused",
        "this Idempotency-Key was used for a different request; use a new key for a new task"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(prompt: &str) -> TaskInput {
        TaskInput {
            prompt: prompt.into(),
            model: "sora-2".into(),
            seconds: 4,
            size: "720x1280".into(),
            quality: "standard".into(),
            webhook_url: None,
            reference_image_url: None,
            image: None,
        }
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(parse_key(None).unwrap(), None);
        let uuid = "6f1c2a9e-1b7d-4c1e-9f3a-2d5b8e7c4a10";
        assert_eq!(parse_key(Some(uuid.as_bytes())).unwrap().unwrap(), uuid);
        let longest = "k".repeat(MAX_KEY_BYTES);
        assert!(parse_key(Some(longest.as_bytes())).is_ok());
        for bad in [
            &b""[..],
            "k".repeat(MAX_KEY_BYTES + 1).as_bytes(),
            b"has space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            assert!(parse_key(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_follows_every_field_and_only_them() {
        let fp = |i: &TaskInput| key_for("k".into(), i, None).fingerprint;
        let base = input("a cat");
        assert_eq!(fp(&base), fp(&input("a cat")));
        let mut changed = Vec::new();
        changed.push(input("a cat "));
        let mut i = input("a cat");
        i.seconds = 8;
        changed.push(i);
        let mut i = input("a cat");
        i.webhook_url = Some(String::new());
        changed.push(i);
        let mut i = input("a cat");
        i.reference_image_url = Some("https://example.com/a.png".into());
        changed.push(i);
        let mut i = input("a cat");
        i.image = Some(super::super::uploads::ImageData {
            bytes: bytes::Bytes::from_static(b"\x89PNG"),
            ext: "png",
        });
        changed.push(i);
        // Fields that run together differently: "ab" + "c" against "a" + "bc".
        let mut i = input("a cat");
        i.model = "sora-2a".into();
        let mut j = input("a cat");
        j.size = "a720x1280".into();
        changed.push(i);
        changed.push(j);
        let retry = |of: &str| key_for("k".into(), &base, Some(of)).fingerprint;
        assert_eq!(retry("video_1"), retry("video_1"));
        let mut seen = std::collections::HashSet::from([fp(&base), retry("video_1")]);
        assert!(seen.insert(retry("video_2")), "another task retried");
        for c in &changed {
            assert!(seen.insert(fp(c)), "{c:?} has a fingerprint already seen");
        }
    }
}
