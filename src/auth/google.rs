//! Google sign-in: verifies Google ID tokens (RS256 against the issuer's JWKS, `iss`, `aud`
//! = our client id, `exp`, `email_verified`) and exchanges authorization codes (with PKCE)
//! at the token endpoint. The key set is cached in memory, refreshed when it is an hour old,
//! and refetched for a token signed by an unknown key at most once per
//! `google_jwks_min_refresh_secs`.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{decode, decode_header, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::google_settings::{GoogleSettings, GOOGLE_ISSUER};
use crate::error::ApiError;
use crate::secret::Secret;

/// Longest ID token accepted (Google's are about 1 KiB).
pub const MAX_ID_TOKEN_BYTES: usize = 8 * 1024;
/// Largest JWKS or token-endpoint answer read (Google's JWKS is about 1.5 KiB).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// A cached key set older than this is fetched again before use (Google rotates keys
/// over days and publishes new ones well before they sign anything).
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Allowed clock difference with the issuer when checking `exp`/`iat`.
const LEEWAY_SECS: u64 = 30;
/// Time limit of one call to the issuer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why Google sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    #[error("Google sign-in is not configured on this server")]
    NotConfigured,
    /// The ID token is not acceptable (401 `invalidGoogleToken`).
    #[error("{0}")]
    InvalidToken(String),
    /// The token endpoint refused the code (401 `invalidGoogleCode`).
    #[error("{0}")]
    CodeRefused(String),
    /// The issuer could not be reached or answered nonsense (503 `googleUnavailable`).
    #[error("{0}")]
    Unavailable(String),
}

impl From<GoogleError> for ApiError {
    fn from(e: GoogleError) -> Self {
        let msg = e.to_string();
        match e {
            GoogleError::NotConfigured => ApiError::Unavailable("googleNotConfigured", msg),
            GoogleError::InvalidToken(_) => ApiError::Unauthenticated("invalidGoogleToken", msg),
            GoogleError::CodeRefused(_) => ApiError::Unauthenticated("invalidGoogleCode", msg),
            GoogleError::Unavailable(_) => ApiError::Unavailable("googleUnavailable", msg),
        }
    }
}

/// The claims of a verified ID token that sign-in uses.
#[derive(Debug, Clone)]
pub struct GoogleClaims {
    pub sub: String,
    /// Lower-case; verified by Google.
    pub email: String,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    email: Option<String>,
    /// A boolean; some older tokens carry the string `"true"`.
    email_verified: Option<serde_json::Value>,
}

/// Where the issuer is and who we are to it.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub client_id: Option<String>,
    pub client_secret: Secret,
    pub issuer: String,
    pub token_url: String,
    pub jwks_url: String,
}

impl Endpoints {
    /// From the settings; with `fake_base` (development's fake issuer at that URL) its
    /// endpoints and, unless configured, its fake client.
    pub fn new(s: &GoogleSettings, fake_base: Option<&str>) -> Self {
        let Some(base) = fake_base else {
            return Self {
                client_id: s.google_client_id.clone().filter(|c| !c.is_empty()),
                client_secret: s.google_client_secret.clone(),
                issuer: s.google_issuer.clone(),
                token_url: s.google_token_url.clone(),
                jwks_url: s.google_jwks_url.clone(),
            };
        };
        let secret = if s.google_client_secret.is_empty() {
            Secret::new("fake-google-client-secret")
        } else {
            s.google_client_secret.clone()
        };
        Self {
            client_id: Some(
                s.google_client_id
                    .clone()
                    .unwrap_or_else(|| "fake-google-client-id".into()),
            ),
            client_secret: secret,
            issuer: base.to_string(),
            token_url: format!("{base}/token"),
            jwks_url: format!("{base}/jwks"),
        }
    }
}

pub struct GoogleAuth {
    endpoints: Endpoints,
    min_refresh: Duration,
    http: reqwest::Client,
    /// Held across a fetch, so concurrent sign-ins wait for one fetch instead of each making
    /// their own.
    jwks: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Option<JwkSet>,
    /// The last fetch attempt (failed ones too: they are throttled the same way).
    fetched_at: Option<Instant>,
}

impl GoogleAuth {
    pub fn new(endpoints: Endpoints, min_refresh_secs: u64) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            endpoints,
            min_refresh: Duration::from_secs(min_refresh_secs),
            http,
            jwks: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The client id, or `NotConfigured`.
    pub fn configured(&self) -> Result<&str, GoogleError> {
        self.endpoints
            .client_id
            .as_deref()
            .ok_or(GoogleError::NotConfigured)
    }

    /// Verifies an ID token: RS256 by a key of the issuer, `iss`, `aud`, `exp`, a verified
    /// email.
    pub async fn verify_id_token(&self, token: &str) -> Result<GoogleClaims, GoogleError> {
        let client_id = self.configured()?;
        let bad = |m: &str| GoogleError::InvalidToken(m.to_string());
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(bad("the ID token is too long"));
        }
        let header = decode_header(token).map_err(|_| bad("not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(bad("the ID token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| bad("the ID token names no key (kid)"))?;
        let key = self.key_for(&kid).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = LEEWAY_SECS;
        v.set_audience(&[client_id]);
        let issuer = self.endpoints.issuer.as_str();
        if issuer == GOOGLE_ISSUER {
            v.set_issuer(&[GOOGLE_ISSUER, "accounts.google.com"]);
        } else {
            v.set_issuer(&[issuer]);
        }
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<RawClaims>(token, &key, &v)
            .map_err(|e| {
                bad(match e.kind() {
                    ErrorKind::ExpiredSignature => "the ID token has expired",
                    ErrorKind::InvalidAudience => "the ID token is for another client (aud)",
                    ErrorKind::InvalidIssuer => "the ID token is from another issuer (iss)",
                    ErrorKind::InvalidSignature => "the ID token's signature is not valid",
                    ErrorKind::ImmatureSignature => "the ID token is not valid yet",
                    _ => "the ID token is malformed or misses a claim",
                })
            })?
            .claims;
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || claims.email_verified.as_ref().and_then(|v| v.as_str()) == Some("true");
        let email = claims.email.map(|e| e.trim().to_lowercase());
        let Some(email) = email.filter(|e| !e.is_empty() && e.len() <= 254) else {
            return Err(bad("the ID token carries no email"));
        };
        if !verified {
            return Err(bad("the Google account's email is not verified"));
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(bad("the ID token's subject is not valid"));
        }
        Ok(GoogleClaims {
            sub: claims.sub,
            email,
        })
    }

    /// The RSA key `kid` of the issuer, fetching the key set when it is missing or old, or
    /// (throttled) when it does not have `kid`.
    async fn key_for(&self, kid: &str) -> Result<DecodingKey, GoogleError> {
        let mut cache = self.jwks.lock().await;
        let age = cache.fetched_at.map(|t| t.elapsed());
        let stale = cache.keys.is_none() || age.is_none_or(|a| a >= JWKS_MAX_AGE);
        let known = cache.keys.as_ref().and_then(|k| k.find(kid)).is_some();
        let may_refetch = age.is_none_or(|a| a >= self.min_refresh);
        if stale || (!known && may_refetch) {
            cache.fetched_at = Some(Instant::now());
            match self.fetch_jwks().await {
                Ok(keys) => cache.keys = Some(keys),
                Err(e) if cache.keys.is_none() || stale => return Err(e),
                Err(e) => tracing::warn!(error = %e, "refetching Google's JWKS failed"),
            }
        }
        let jwk = cache
            .keys
            .as_ref()
            .and_then(|k| k.find(kid))
            .ok_or_else(|| {
                GoogleError::InvalidToken("the ID token is signed by an unknown key".into())
            })?;
        if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
            return Err(GoogleError::InvalidToken(
                "the signing key is not an RSA key".into(),
            ));
        }
        DecodingKey::from_jwk(jwk).map_err(|_| {
            GoogleError::Unavailable("the issuer's key set has an unusable key".into())
        })
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, GoogleError> {
        let down = |m: String| GoogleError::Unavailable(m);
        let resp = self
            .http
            .get(&self.endpoints.jwks_url)
            .send()
            .await
            .map_err(|_| down("the issuer's key set could not be fetched".into()))?;
        if !resp.status().is_success() {
            return Err(down(format!(
                "the issuer's key set answered {}",
                resp.status().as_u16()
            )));
        }
        let body = read_limited(resp).await?;
        serde_json::from_slice(&body).map_err(|_| down("the issuer's key set is not a JWKS".into()))
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the ID token.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<String, GoogleError> {
        let client_id = self.configured()?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("client_secret", self.endpoints.client_secret.expose()),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        let resp = self
            .http
            .post(&self.endpoints.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|_| {
                GoogleError::Unavailable("the token endpoint could not be reached".into())
            })?;
        let status = resp.status();
        let body = read_limited(resp).await?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_client_error() {
            // Only the standard error code is passed on (never the endpoint's free text).
            let code = json["error"].as_str().unwrap_or("invalid_request");
            let code: String = code
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            return Err(GoogleError::CodeRefused(format!(
                "the authorization code was refused ({code})"
            )));
        }
        if !status.is_success() {
            return Err(GoogleError::Unavailable(format!(
                "the token endpoint answered {}",
                status.as_u16()
            )));
        }
        json["id_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| GoogleError::Unavailable("the token endpoint sent no id_token".into()))
    }
}

/// The body, refusing more than [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, GoogleError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(GoogleError::Unavailable(
                        "the issuer's answer is too large".into(),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => {
                return Err(GoogleError::Unavailable(
                    "reading the issuer's answer failed".into(),
                ))
            }
        }
    }
}
