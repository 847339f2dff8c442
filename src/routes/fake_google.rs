//! A fake Google OpenID issuer, for development (`TASKHUB_GOOGLE_FAKE`, mounted at
//! [`MOUNT`], never in production) and for tests (served on its own port): discovery,
//! JWKS, an authorize page that lets you pick an email, and a token endpoint that checks
//! the code, the client secret and the PKCE verifier. It signs real RS256 tokens with a
//! FAKE key committed to the repository.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Where development mounts the fake issuer (its issuer URL is this node's URL + this).
pub const MOUNT: &str = "/dev/fake-google";
/// A FAKE RSA private key, generated for this repository's development and tests. It
/// signs nothing real and is not a secret.
pub const FAKE_KEY_PEM: &str = include_str!("fake_google_FAKE_key.pem");
pub const FAKE_KID: &str = "fake-google-key-1";
/// How long an authorization code can be exchanged.
const CODE_TTL: Duration = Duration::from_secs(300);
/// Codes outstanding at once (older ones are dropped past it).
const MAX_CODES: usize = 1000;

struct Pending {
    email: String,
    redirect_uri: String,
    challenge: Option<String>,
    issued: Instant,
}

pub struct FakeGoogle {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// Published keys; the first signs.
    keys: RwLock<Vec<(String, EncodingKey)>>,
    codes: Mutex<HashMap<String, Pending>>,
    jwks_fetches: AtomicUsize,
}

impl FakeGoogle {
    /// An issuer at `issuer` for one client, signing with [`FAKE_KEY_PEM`].
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> anyhow::Result<Self> {
        let key = key_from_pem(FAKE_KEY_PEM)?;
        Ok(Self {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            keys: RwLock::new(vec![(FAKE_KID.to_string(), key)]),
            codes: Mutex::new(HashMap::new()),
            jwks_fetches: AtomicUsize::new(0),
        })
    }

    /// Publishes another key, which signs from now on (a key rotation).
    pub fn rotate_to(&self, kid: &str, pem: &str) -> anyhow::Result<()> {
        let key = key_from_pem(pem)?;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.insert(0, (kid.to_string(), key));
        Ok(())
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// The claims of a good ID token for `email` (its `sub` derives from the lower-case
    /// email, so one email is one Google account).
    pub fn claims(&self, email: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let sub = hex::encode(&Sha256::digest(email.to_lowercase().as_bytes())[..10]);
        json!({
            "iss": self.issuer, "aud": self.client_id, "sub": format!("fake-{sub}"),
            "email": email, "email_verified": true, "iat": now, "exp": now + 3600,
        })
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &Value) -> String {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (kid, key) = &keys[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        encode(&header, claims, key).unwrap_or_default()
    }

    fn jwks(&self) -> JwkSet {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let keys = keys
            .iter()
            .filter_map(|(kid, key)| {
                let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).ok()?;
                jwk.common.key_id = Some(kid.clone());
                Some(jwk)
            })
            .collect();
        JwkSet { keys }
    }

    /// A code for `email`, as the authorize page would hand out.
    pub fn issue_code(&self, email: &str, redirect_uri: &str, challenge: Option<&str>) -> String {
        let code = crate::auth::random_token(32);
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, p| p.issued.elapsed() < CODE_TTL);
        if codes.len() >= MAX_CODES {
            codes.clear();
        }
        codes.insert(
            code.clone(),
            Pending {
                email: email.to_string(),
                redirect_uri: redirect_uri.to_string(),
                challenge: challenge.map(str::to_string),
                issued: Instant::now(),
            },
        );
        code
    }
}

/// The issuer's routes, relative to its base URL.
pub fn router(fake: Arc<FakeGoogle>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .route("/authorize", get(authorize))
        .route("/approve", get(approve))
        .with_state(fake)
}

/// Mounts the fake issuer in development when `TASKHUB_GOOGLE_FAKE` is on.
pub fn mount(app: Router<AppState>, state: &AppState) -> Router<AppState> {
    let s = &state.settings;
    if !s.google.google_fake || s.is_production() {
        return app;
    }
    let e = state.google.endpoints();
    let client_id = e.client_id.clone().unwrap_or_default();
    match FakeGoogle::new(&e.issuer, &client_id, e.client_secret.expose()) {
        Ok(fake) => app.nest_service(MOUNT, router(Arc::new(fake))),
        Err(err) => {
            tracing::warn!(error = %err, "the fake Google issuer could not start");
            app
        }
    }
}

async fn discovery(State(f): State<Arc<FakeGoogle>>) -> Json<Value> {
    Json(json!({
        "issuer": f.issuer,
        "authorization_endpoint": format!("{}/authorize", f.issuer),
        "token_endpoint": format!("{}/token", f.issuer),
        "jwks_uri": format!("{}/jwks", f.issuer),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(f): State<Arc<FakeGoogle>>) -> Json<JwkSet> {
    f.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(f.jwks())
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(f): State<Arc<FakeGoogle>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if field("client_id") != f.client_id || field("client_secret") != f.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let pending = {
        let mut codes = f.codes.lock().unwrap_or_else(|p| p.into_inner());
        codes.remove(field("code"))
    };
    let Some(p) = pending.filter(|p| p.issued.elapsed() < CODE_TTL) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if p.redirect_uri != field("redirect_uri") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if let Some(challenge) = &p.challenge {
        let digest = Sha256::digest(field("code_verifier").as_bytes());
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        if &expected != challenge {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    }
    let id_token = f.sign(&f.claims(&p.email));
    Json(json!({
        "access_token": crate::auth::random_token(32), "id_token": id_token,
        "token_type": "Bearer", "expires_in": 3600, "scope": "openid email",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    #[serde(default)]
    state: String,
    code_challenge: Option<String>,
    email: Option<String>,
}

/// The consent page: pick the email to sign in as.
async fn authorize(State(f): State<Arc<FakeGoogle>>, Query(q): Query<AuthorizeQuery>) -> Response {
    if q.client_id != f.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let hidden = |name: &str, v: &str| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(v)
        )
    };
    let page = format!(
        r#"<!doctype html><meta charset="utf-8"><title>Fake Google sign-in</title>
<h1>Fake Google sign-in (development)</h1>
<p>Pick the Google account (email) to sign in as. This issuer is fake: it exists only in development.</p>
<form method="get" action="approve">{}{}{}{}
<input name="email" type="email" required value="dev.user@example.com">
<button type="submit">Sign in</button></form>"#,
        hidden("client_id", &q.client_id),
        hidden("redirect_uri", &q.redirect_uri),
        hidden("state", &q.state),
        hidden("code_challenge", q.code_challenge.as_deref().unwrap_or("")),
    );
    Html(page).into_response()
}

/// The page's answer: a code, back to the redirect URI.
async fn approve(State(f): State<Arc<FakeGoogle>>, Query(q): Query<AuthorizeQuery>) -> Response {
    let email = q.email.as_deref().unwrap_or("").trim().to_lowercase();
    if q.client_id != f.client_id || !super::auth::valid_email(&email) {
        return (StatusCode::BAD_REQUEST, "unknown client_id or bad email").into_response();
    }
    let Ok(mut target) = url::Url::parse(&q.redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    let challenge = q.code_challenge.as_deref().filter(|c| !c.is_empty());
    let code = f.issue_code(&email, &q.redirect_uri, challenge);
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    Redirect::to(target.as_str()).into_response()
}

/// An RSA signing key from a PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`).
pub fn key_from_pem(pem: &str) -> anyhow::Result<EncodingKey> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let der = base64::engine::general_purpose::STANDARD.decode(b64.trim())?;
    Ok(EncodingKey::from_rsa_der(&der))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
