//! Settings of Google sign-in. Flattened into `config::Settings`; `GOOGLE_*` are read
//! without the `TASKHUB_` prefix.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Google's issuer, as its ID tokens name it (also without `https://`).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GoogleSettings {
    /// The OAuth client id; ID tokens must name it as `aud`. Unset: Google sign-in answers
    /// 503 `googleNotConfigured`.
    pub google_client_id: Option<String>,
    /// The OAuth client secret, sent to the token endpoint with an authorization code.
    pub google_client_secret: Secret,
    /// The issuer ID tokens must name (`iss`).
    pub google_issuer: String,
    /// Where authorization codes are exchanged.
    pub google_token_url: String,
    /// The issuer's signing keys.
    pub google_jwks_url: String,
    /// A token signed by a key not in the cached key set refetches it at most this often
    /// (a flood of made-up key ids must not become a flood of fetches).
    pub google_jwks_min_refresh_secs: u64,
    /// Development only: mount a fake issuer at `/dev/fake-google/` and sign in against it
    /// (the QA page's "Sign in with Google"). Ignored in production.
    pub google_fake: bool,
}

impl Default for GoogleSettings {
    fn default() -> Self {
        Self {
            google_client_id: None,
            google_client_secret: Secret::default(),
            google_issuer: GOOGLE_ISSUER.into(),
            google_token_url: "https://oauth2.googleapis.com/token".into(),
            google_jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            google_jwks_min_refresh_secs: 30,
            google_fake: false,
        }
    }
}
