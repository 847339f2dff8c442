//! HS256 access tokens with `sub`, `exp`, `iat`, `jti`.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// Username, so the WS hub can answer `authSuccess` without a lookup.
    #[serde(default)]
    pub name: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from the JWT secret; an empty secret is refused.
    pub fn new(secret: &Secret, ttl_secs: u64) -> anyhow::Result<Self> {
        let bytes = secret.expose().as_bytes();
        anyhow::ensure!(!bytes.is_empty(), "JWT_SECRET is empty");
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes)?,
            decoding: DecodingKey::from_secret(bytes)?,
            ttl_secs: ttl_secs as i64,
        })
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for `user_id`.
    pub fn issue(&self, user_id: &str, username: &str) -> anyhow::Result<(String, Claims)> {
        self.issue_with_ttl(user_id, username, self.ttl_secs)
    }

    pub fn issue_with_ttl(
        &self,
        user_id: &str,
        username: &str,
        ttl_secs: i64,
    ) -> anyhow::Result<(String, Claims)> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            name: username.to_string(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub", "iat"]);
        decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_reject_tampering_and_expiry() {
        let keys = JwtKeys::new(&Secret::new("fake-test-secret-0123456789abcdef"), 60).unwrap();
        assert!(JwtKeys::new(&Secret::new(""), 60).is_err());
        let (tok, claims) = keys.issue("u1", "alice").unwrap();
        assert_eq!(keys.verify(&tok).unwrap(), claims);
        let other = JwtKeys::new(&Secret::new("another-fake-secret-0123456789abc"), 60).unwrap();
        assert!(other.verify(&tok).is_err());
        let (expired, _) = keys.issue_with_ttl("u1", "alice", -5).unwrap();
        assert!(keys.verify(&expired).is_err());
    }
}
