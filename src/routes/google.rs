//! `/api/auth/google`: Google sign-in, by an authorization code (with PKCE) or by the ID
//! token Google Identity Services hands a browser; and `/api/auth/google/config`, what a
//! browser needs to start it.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::ApiJson;
use crate::auth::google::MAX_ID_TOKEN_BYTES;
use crate::auth::google_settings::GOOGLE_ISSUER;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::{Envelope, ErrorEnvelope, GoogleConfigView, GoogleSignInView};

/// Longest authorization code and redirect URI accepted (Google's codes are ~100 chars).
const MAX_CODE_CHARS: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/google", post(google_sign_in))
        .route("/api/auth/google/config", get(google_config))
}

/// Either `idToken`, or `code` with `redirectUri` (and `codeVerifier` when the code was
/// requested with PKCE).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = GoogleSignIn)]
pub(crate) struct GoogleSignInBody {
    /// The ID token (a JWT) from Google Identity Services.
    #[schema(max_length = 8192)]
    id_token: Option<String>,
    /// An authorization code, exchanged at the token endpoint.
    #[schema(max_length = 2048)]
    code: Option<String>,
    /// The redirect URI the code was requested with.
    #[schema(max_length = 2048)]
    redirect_uri: Option<String>,
    /// The PKCE verifier (RFC 7636: 43 to 128 of `A-Z a-z 0-9 - . _ ~`).
    #[schema(pattern = "^[A-Za-z0-9._~-]{43,128}$")]
    code_verifier: Option<String>,
}

/// Sign in with Google; creates the account on first use, links an account with the same
/// verified email.
#[utoipa::path(post, path = "/api/auth/google", tag = "auth", security(()),
    request_body = GoogleSignInBody,
    responses(
        (status = 200, description = "Signed in", body = Envelope<GoogleSignInView>),
        (status = 401, description = "invalidGoogleToken (bad signature, unknown key, wrong audience or issuer, expired, unverified email) or invalidGoogleCode", body = ErrorEnvelope),
        (status = 409, description = "the email's account is linked to another Google account", body = ErrorEnvelope),
        (status = 422, description = "neither or both of idToken and code; a code without redirectUri; a malformed codeVerifier", body = ErrorEnvelope),
        (status = 503, description = "googleNotConfigured (no GOOGLE_CLIENT_ID) or googleUnavailable", body = ErrorEnvelope),
    ))]
async fn google_sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GoogleSignInBody>,
) -> ApiResult<Json<Value>> {
    let google = &state.google;
    google.configured()?;
    let id_token = match (body.id_token, body.code) {
        (Some(token), None) if token.len() <= MAX_ID_TOKEN_BYTES => token,
        (Some(_), None) => return Err(ApiError::field("idToken", "too long")),
        (None, Some(code)) => {
            let (redirect, verifier) = check_code(&code, body.redirect_uri, body.code_verifier)?;
            google
                .exchange_code(&code, &redirect, verifier.as_deref())
                .await?
        }
        _ => return Err(ApiError::field("body", "send either idToken or code")),
    };
    let bonus = state
        .settings
        .billing
        .signup_bonus(crate::domain::time::now_ms());
    let (user, created) =
        crate::auth::sessions::google_user(google, &state.store, &id_token, bonus).await?;
    let tokens = super::auth::new_login(&state, &user).await?;
    Ok(ok(GoogleSignInView::new(tokens, created)))
}

/// The code's companions, checked: `(redirectUri, codeVerifier)`.
fn check_code(
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> ApiResult<(String, Option<String>)> {
    if code.is_empty() || code.len() > MAX_CODE_CHARS {
        return Err(ApiError::field("code", "1 to 2048 characters"));
    }
    let redirect = redirect_uri
        .filter(|r| !r.is_empty() && r.len() <= MAX_CODE_CHARS)
        .ok_or_else(|| {
            ApiError::field("redirectUri", "required with code, at most 2048 characters")
        })?;
    if let Some(v) = &verifier {
        let ok = (43..=128).contains(&v.len())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
        if !ok {
            return Err(ApiError::field(
                "codeVerifier",
                "43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
    }
    Ok((redirect, verifier))
}

/// Whether Google sign-in is on, and where a browser starts it.
#[utoipa::path(get, path = "/api/auth/google/config", tag = "auth", security(()),
    responses((status = 200, description = "Google sign-in settings a browser needs", body = Envelope<GoogleConfigView>)))]
async fn google_config(State(state): State<AppState>) -> Json<Value> {
    let fake = state.settings.google.google_fake && !state.settings.is_production();
    let e = state.google.endpoints();
    let authorization_endpoint = if fake {
        Some(format!("{}/authorize", super::fake_google::MOUNT))
    } else if e.issuer == GOOGLE_ISSUER {
        Some("https://accounts.google.com/o/oauth2/v2/auth".to_string())
    } else {
        None
    };
    ok(GoogleConfigView {
        configured: e.client_id.is_some(),
        client_id: e.client_id.clone(),
        authorization_endpoint,
        fake,
    })
}
