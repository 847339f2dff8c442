//! Signed, expiring media URLs: `/media/{file}?exp={unix seconds}&sig={hex}`.
//!
//! The database keeps only the media *key* (the file name, `video_<uuid>.mp4`); a URL is made
//! whenever a task or event is read for a client (REST, WS `subscribed` and replays, and live
//! event frames when the event is built, since one frame is serialised once and fanned out),
//! valid for `media_url_ttl_secs`. `sig` is 128 bits of HMAC-SHA256 over `file \n exp` under
//! a key derived for media only, HMAC(JWT secret, "taskhub media url v2"), so a media
//! signature is never a JWT signature (those use the secret itself) or the other way round;
//! rotating `JWT_SECRET` revokes every media URL.
//!
//! Rows written before keys were stored hold a full URL (`…/media/{file}?sig=…`, without
//! expiry); [`MediaUrls::key_of`] recognises them, so they are re-signed like keys.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::settings::MediaSettings;
use super::{MediaStore, ROUTE};
use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a media request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Missing, malformed or forged `exp`/`sig`.
    Invalid,
    /// A genuine URL whose `exp` has passed.
    Expired,
}

#[derive(Clone)]
pub struct MediaUrls {
    key: [u8; 32],
    /// Put before `/media/…` in URLs; empty means relative URLs.
    base_url: String,
    ttl_secs: i64,
}

impl MediaUrls {
    /// URLs signed under a key derived from `jwt_secret`.
    pub fn new(jwt_secret: &Secret, p: &MediaSettings) -> Self {
        let mut mac = HmacSha256::new_from_slice(jwt_secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"taskhub media url v2");
        Self {
            key: mac.finalize().into_bytes().into(),
            base_url: p
                .media_base_url
                .clone()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            ttl_secs: i64::try_from(p.media_url_ttl_secs.max(1)).unwrap_or(i64::MAX),
        }
    }

    fn mac(&self, file: &str, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("32-byte key");
        mac.update(file.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    fn sign(&self, file: &str, exp: i64) -> String {
        hex::encode(&self.mac(file, exp).finalize().into_bytes()[..16])
    }

    /// A URL for `file` that works until `now_secs + ttl`.
    pub fn url_at(&self, file: &str, now_secs: i64) -> String {
        let exp = now_secs.saturating_add(self.ttl_secs);
        format!(
            "{}{ROUTE}/{file}?exp={exp}&sig={}",
            self.base_url,
            self.sign(file, exp)
        )
    }

    /// A URL for `file` that works for `media_url_ttl_secs` from now.
    pub fn url(&self, file: &str) -> String {
        self.url_at(file, now_secs())
    }

    /// Checks a request's `exp` and `sig` for `file` at `now_secs`; `Ok(exp)` when valid.
    pub fn check(
        &self,
        file: &str,
        exp: Option<&str>,
        sig: Option<&str>,
        now_secs: i64,
    ) -> Result<i64, Denied> {
        let exp: i64 = exp.and_then(|e| e.parse().ok()).ok_or(Denied::Invalid)?;
        let raw = sig
            .and_then(|s| hex::decode(s).ok())
            .ok_or(Denied::Invalid)?;
        if raw.len() != 16 || self.mac(file, exp).verify_truncated_left(&raw).is_err() {
            return Err(Denied::Invalid);
        }
        if exp < now_secs {
            return Err(Denied::Expired);
        }
        Ok(exp)
    }

    /// The media key a stored `videoUrl`/`thumbnailUrl` stands for: the key itself, or the
    /// file of a URL stored by older versions (`…/media/{file}?sig=…`). `None`: a provider URL.
    pub fn key_of(stored: &str) -> Option<&str> {
        if MediaStore::is_valid_name(stored) {
            return Some(stored);
        }
        let (path, query) = stored.split_once('?')?;
        if !query.split('&').any(|p| p.starts_with("sig=")) {
            return None;
        }
        let file = path.rsplit_once(&format!("{ROUTE}/"))?.1;
        MediaStore::is_valid_name(file).then_some(file)
    }

    /// What a client is shown for a stored value: a fresh signed URL for a media key (or an
    /// old stored URL of ours), anything else (a provider's URL) as it is.
    pub fn present(&self, stored: &str) -> String {
        match Self::key_of(stored) {
            Some(file) => self.url(file),
            None => stored.to_string(),
        }
    }

    /// Signs `videoUrl` and `thumbnailUrl` of a task's `result` object (null is left alone).
    pub fn sign_result(&self, result: &mut Value) {
        for field in ["videoUrl", "thumbnailUrl"] {
            if let Some(Value::String(s)) = result.get_mut(field) {
                *s = self.present(s);
            }
        }
    }

    /// Signs the URLs of a finished video (an event's `result`).
    pub fn sign_task_result(&self, result: &mut crate::domain::TaskResult) {
        result.video_url = self.present(&result.video_url);
        if let Some(t) = &mut result.thumbnail_url {
            *t = self.present(t);
        }
    }
}

fn now_secs() -> i64 {
    crate::domain::time::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "video_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.mp4";

    fn urls(secret: &str) -> MediaUrls {
        let settings = MediaSettings {
            media_url_ttl_secs: 600,
            ..MediaSettings::default()
        };
        MediaUrls::new(&Secret::new(secret), &settings)
    }

    fn query(url: &str) -> (String, String) {
        let q: std::collections::HashMap<String, String> = url::Url::parse("http://x")
            .unwrap()
            .join(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        (q["exp"].clone(), q["sig"].clone())
    }

    #[test]
    fn urls_expire_and_bind_the_file_expiry_and_secret() {
        let a = urls("fake-secret-a-0123456789abcdef0123456789");
        let url = a.url_at(FILE, 1_000);
        assert!(
            url.starts_with(&format!("/media/{FILE}?exp=1600&sig=")),
            "{url}"
        );
        let (exp, sig) = query(&url);
        assert_eq!(a.check(FILE, Some(&exp), Some(&sig), 1_000), Ok(1600));
        assert_eq!(a.check(FILE, Some(&exp), Some(&sig), 1_600), Ok(1600));
        assert_eq!(
            a.check(FILE, Some(&exp), Some(&sig), 1_601),
            Err(Denied::Expired)
        );
        // Moving the expiry, another file, another secret, or no expiry: forged.
        assert_eq!(
            a.check(FILE, Some("99999"), Some(&sig), 1_000),
            Err(Denied::Invalid)
        );
        let other = FILE.replace("7b.mp4", "7c.mp4");
        assert_eq!(
            a.check(&other, Some(&exp), Some(&sig), 1_000),
            Err(Denied::Invalid)
        );
        let b = urls("fake-secret-b-0123456789abcdef0123456789");
        assert_eq!(
            b.check(FILE, Some(&exp), Some(&sig), 1_000),
            Err(Denied::Invalid)
        );
        assert_eq!(a.check(FILE, None, Some(&sig), 1_000), Err(Denied::Invalid));
        assert_eq!(
            a.check(FILE, Some(&exp), Some("zz"), 1_000),
            Err(Denied::Invalid)
        );
    }

    #[test]
    fn the_media_key_is_not_the_jwt_key() {
        // A JWT's HS256 signature uses the secret itself; the media MAC must not.
        let secret = "fake-secret-a-0123456789abcdef0123456789";
        let a = urls(secret);
        let mut raw = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        raw.update(format!("{FILE}\n1600").as_bytes());
        let with_jwt_secret = hex::encode(&raw.finalize().into_bytes()[..16]);
        assert_ne!(a.sign(FILE, 1600), with_jwt_secret);
        assert_eq!(
            a.check(FILE, Some("1600"), Some(&with_jwt_secret), 0),
            Err(Denied::Invalid)
        );
    }

    #[test]
    fn stored_keys_and_old_urls_are_presented_signed() {
        let a = urls("fake-secret-a-0123456789abcdef0123456789");
        assert_eq!(MediaUrls::key_of(FILE), Some(FILE));
        let old =
            format!("https://hub.example.com/media/{FILE}?sig=00112233445566778899aabbccddeeff");
        assert_eq!(MediaUrls::key_of(&old), Some(FILE));
        assert_eq!(
            MediaUrls::key_of(&format!("/media/{FILE}?sig=ab")),
            Some(FILE)
        );
        let provider = "https://cdn.provider.example/v/abc.mp4?X-Amz-Signature=1";
        assert_eq!(MediaUrls::key_of(provider), None);
        assert_eq!(a.present(provider), provider);
        let mut result = serde_json::json!({"videoUrl": old, "thumbnailUrl": null});
        a.sign_result(&mut result);
        let shown = result["videoUrl"].as_str().unwrap();
        assert!(shown.starts_with(&format!("/media/{FILE}?exp=")), "{shown}");
        let (exp, sig) = query(shown);
        assert!(a.check(FILE, Some(&exp), Some(&sig), now_secs()).is_ok());
        assert!(result["thumbnailUrl"].is_null());
    }
}
