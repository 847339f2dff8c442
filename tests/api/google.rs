//! Google sign-in (`POST /api/auth/google`) against a fake issuer on 127.0.0.1:0 that signs
//! real RS256 tokens: ID tokens and authorization codes (with PKCE) are accepted; a wrong
//! audience or issuer, an expired token, an unverified email, an unknown key and a bad
//! signature are refused with 401 `invalidGoogleToken`; users are keyed by `sub` and an
//! account with the same email is linked, never duplicated.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use taskhub::routes::fake_google::{router, FakeGoogle, FAKE_KID};
use taskhub::secret::Secret;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

const CLIENT_ID: &str = "fake-client-id.apps.example";
const CLIENT_SECRET: &str = "fake-client-secret";
/// A second FAKE key (test only), for rotation, unknown keys and bad signatures.
const KEY_B: &str = include_str!("fixtures/fake_google_FAKE_key_b.pem");

/// Starts a fake issuer on its own port.
pub async fn issuer() -> Arc<FakeGoogle> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(FakeGoogle::new(&url, CLIENT_ID, CLIENT_SECRET).unwrap());
    let app = router(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    fake
}

/// An app whose Google sign-in trusts `fake` (issuer URL from its claims).
pub async fn app_for(backend: Backend, fake: &FakeGoogle, min_refresh: u64) -> TestApp {
    let url = fake.claims("x@example.com")["iss"]
        .as_str()
        .unwrap()
        .to_string();
    TestApp::spawn_with(backend, |s| {
        s.google.google_client_id = Some(CLIENT_ID.into());
        s.google.google_client_secret = Secret::new(CLIENT_SECRET);
        s.google.google_issuer = url.clone();
        s.google.google_token_url = format!("{url}/token");
        s.google.google_jwks_url = format!("{url}/jwks");
        s.google.google_jwks_min_refresh_secs = min_refresh;
    })
    .await
}

fn sign_in(app: &TestApp, body: Value) -> crate::helpers::Call {
    app.post("/api/auth/google").json(body)
}

/// Signs `claims` with key B under header `kid`.
fn sign_with_b(kid: &str, claims: &Value) -> String {
    let key = taskhub::routes::fake_google::key_from_pem(KEY_B).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

async fn id_token_signs_in_and_creates_once(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 30).await;
    let token = fake.sign(&fake.claims("Gina@Example.com"));
    let first = sign_in(&app, json!({ "idToken": token })).await.expect(200);
    let d = &first["data"];
    assert_eq!(d["created"], true, "{first}");
    assert_eq!(d["tokenType"], "bearer");
    assert_eq!(d["user"]["email"], "gina@example.com");
    let access = d["accessToken"].as_str().unwrap();
    let me = app.get("/api/auth/me").auth(access).await.expect(200);
    assert_eq!(me["data"]["id"], d["user"]["id"]);
    // The refresh token works like a password login's.
    let r = json!({ "refreshToken": d["refreshToken"] });
    app.post("/api/auth/refresh").json(r).await.expect(200);
    // Signing in again finds the same account.
    let again = sign_in(
        &app,
        json!({ "idToken": fake.sign(&fake.claims("Gina@Example.com")) }),
    )
    .await
    .expect(200);
    assert_eq!(again["data"]["created"], false);
    assert_eq!(again["data"]["user"]["id"], d["user"]["id"]);
    // The signup bonus was granted once.
    let credits = app.get("/api/users/credits").auth(access).await.expect(200);
    let bonus = app.state.settings.billing.signup_bonus_credits;
    assert_eq!(credits["data"]["credits"], bonus);
    // A Google-only account has no password: password login is a clean 401.
    let login = json!({ "login": "gina@example.com", "password": "" });
    app.post("/api/auth/login")
        .json(login)
        .await
        .expect_error(401, "unauthorized");
    let login = json!({ "login": "gina@example.com", "password": "anything-at-all" });
    app.post("/api/auth/login")
        .json(login)
        .await
        .expect_error(401, "unauthorized");
    crate::ledger_check::assert_ledger_invariant(&app).await;
}

async fn existing_email_account_is_linked_not_duplicated(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 30).await;
    let reg = app.register("hank").await;
    let claims = fake.claims("hank@example.com");
    let out = sign_in(&app, json!({ "idToken": fake.sign(&claims) }))
        .await
        .expect(200);
    assert_eq!(out["data"]["created"], false, "{out}");
    assert_eq!(out["data"]["user"]["id"], reg["user"]["id"]);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind("hank@example.com")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    // The password still works.
    let login = json!({ "login": "hank", "password": "fake-password-123" });
    app.post("/api/auth/login").json(login).await.expect(200);
    // Another Google account with that email cannot take it over.
    let mut other = claims.clone();
    other["sub"] = json!("another-google-account");
    sign_in(&app, json!({ "idToken": fake.sign(&other) }))
        .await
        .expect_error(409, "conflict");
}

async fn bad_id_tokens_are_refused(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 30).await;
    let good = fake.claims("ivy@example.com");
    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut c = good.clone();
    c["aud"] = json!("someone-elses-client");
    cases.push(("another client", fake.sign(&c)));
    let mut c = good.clone();
    c["iss"] = json!("https://evil.example");
    cases.push(("another issuer", fake.sign(&c)));
    let mut c = good.clone();
    (c["iat"], c["exp"]) = (json!(now - 7200), json!(now - 3600));
    cases.push(("expired", fake.sign(&c)));
    let mut c = good.clone();
    c["email_verified"] = json!(false);
    cases.push(("unverified email", fake.sign(&c)));
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("email_verified");
    cases.push(("no email_verified", fake.sign(&c)));
    cases.push(("unknown key", sign_with_b("not-published", &good)));
    cases.push(("bad signature", sign_with_b(FAKE_KID, &good)));
    cases.push(("not a JWT", "abc.def".into()));
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(b"fake").unwrap(),
    )
    .unwrap();
    cases.push(("HS256", hs));
    for (what, token) in cases {
        sign_in(&app, json!({ "idToken": token }))
            .await
            .expect_because(401, what);
    }
    let r = sign_in(&app, json!({ "idToken": sign_with_b(FAKE_KID, &good) })).await;
    let body = r.expect_error(401, "invalidGoogleToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{body}"
    );
    // Nothing was created.
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    // The body shape: neither, both, a code without redirectUri, a bad verifier, too long.
    for body in [
        json!({}),
        json!({ "idToken": "x", "code": "y", "redirectUri": "http://localhost/cb" }),
        json!({ "code": "y" }),
        json!({ "code": "y", "redirectUri": "http://l/cb", "codeVerifier": "short" }),
        json!({ "idToken": "x".repeat(9000) }),
        json!({ "code": "c".repeat(2049), "redirectUri": "http://l/cb" }),
        json!({ "code": "c", "redirectUri": format!("http://l/{}", "r".repeat(2048)) }),
        json!({ "code": "", "redirectUri": "http://l/cb" }),
    ] {
        sign_in(&app, body)
            .await
            .expect_error(422, "validationFailed");
    }
    sign_in(&app, json!({ "idToken": "x", "extra": 1 }))
        .await
        .expect(422);
}

async fn unknown_keys_refetch_the_jwks_at_most_once_per_interval(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 3600).await;
    let good = fake.claims("jo@example.com");
    sign_in(&app, json!({ "idToken": fake.sign(&good) }))
        .await
        .expect(200);
    assert_eq!(fake.jwks_fetches(), 1, "fetched once, then cached");
    sign_in(&app, json!({ "idToken": fake.sign(&good) }))
        .await
        .expect(200);
    for i in 0..5 {
        let t = sign_with_b(&format!("sprayed-{i}"), &good);
        sign_in(&app, json!({ "idToken": t }))
            .await
            .expect_error(401, "invalidGoogleToken");
    }
    assert_eq!(
        fake.jwks_fetches(),
        1,
        "unknown kids within the interval fetch nothing"
    );

    // With no interval, a rotated key is found by refetching.
    let fake = issuer().await;
    let app = app_for(backend, &fake, 0).await;
    let good = fake.claims("jo@example.com");
    sign_in(&app, json!({ "idToken": fake.sign(&good) }))
        .await
        .expect(200);
    fake.rotate_to("rotated", KEY_B).unwrap();
    sign_in(&app, json!({ "idToken": fake.sign(&good) }))
        .await
        .expect(200);
    assert_eq!(fake.jwks_fetches(), 2);
}

fn pkce() -> (String, String) {
    let verifier = "fake-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".to_string();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn authorization_code_with_pkce(backend: Backend) {
    let fake = issuer().await;
    let app = app_for(backend, &fake, 30).await;
    let redirect = "http://localhost:5173/callback";
    let (verifier, challenge) = pkce();
    let code = fake.issue_code("kim@example.com", redirect, Some(&challenge));
    let body = json!({ "code": code, "redirectUri": redirect, "codeVerifier": verifier });
    let out = sign_in(&app, body.clone()).await.expect(200);
    assert_eq!(out["data"]["created"], true);
    assert_eq!(out["data"]["user"]["email"], "kim@example.com");
    // A code is single use.
    sign_in(&app, body)
        .await
        .expect_error(401, "invalidGoogleCode");
    // A wrong verifier, a wrong redirect URI, a made-up code.
    let code = fake.issue_code("kim@example.com", redirect, Some(&challenge));
    let wrong = "x".repeat(43);
    let body = json!({ "code": code, "redirectUri": redirect, "codeVerifier": wrong });
    sign_in(&app, body)
        .await
        .expect_error(401, "invalidGoogleCode");
    let code = fake.issue_code("kim@example.com", redirect, None);
    let body = json!({ "code": code, "redirectUri": "http://localhost/other" });
    sign_in(&app, body)
        .await
        .expect_error(401, "invalidGoogleCode");
    let body = json!({ "code": "made-up", "redirectUri": redirect });
    sign_in(&app, body)
        .await
        .expect_error(401, "invalidGoogleCode");
}

async fn wrong_client_secret_and_unconfigured(backend: Backend) {
    let fake = issuer().await;
    let url = fake.claims("x@example.com")["iss"]
        .as_str()
        .unwrap()
        .to_string();
    let app = TestApp::spawn_with(backend, |s| {
        s.google.google_client_id = Some(CLIENT_ID.into());
        s.google.google_client_secret = Secret::new("fake-wrong-secret");
        s.google.google_issuer = url.clone();
        s.google.google_token_url = format!("{url}/token");
        s.google.google_jwks_url = format!("{url}/jwks");
    })
    .await;
    let code = fake.issue_code("lee@example.com", "http://l/cb", None);
    sign_in(&app, json!({ "code": code, "redirectUri": "http://l/cb" }))
        .await
        .expect_error(401, "invalidGoogleCode");
    let plain = TestApp::spawn(backend).await;
    let token = fake.sign(&fake.claims("lee@example.com"));
    sign_in(&plain, json!({ "idToken": token }))
        .await
        .expect_error(503, "googleNotConfigured");
    let cfg = plain.get("/api/auth/google/config").await.expect(200);
    assert_eq!(cfg["data"]["configured"], false);
    let cfg = app.get("/api/auth/google/config").await.expect(200);
    assert_eq!(cfg["data"]["configured"], true);
    assert_eq!(cfg["data"]["clientId"], CLIENT_ID);
    // An issuer that is down: 503, not 401.
    let down = TestApp::spawn_with(backend, |s| {
        s.google.google_client_id = Some(CLIENT_ID.into());
        s.google.google_issuer = url.clone();
        s.google.google_jwks_url = "http://127.0.0.1:9/jwks".into();
    })
    .await;
    sign_in(
        &down,
        json!({ "idToken": fake.sign(&fake.claims("lee@example.com")) }),
    )
    .await
    .expect_error(503, "googleUnavailable");
}

/// Development's fake issuer, mounted in the app: the QA page's whole code + PKCE flow.
async fn development_fake_issuer_flow(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.google.google_fake = true).await;
    let cfg = app.get("/api/auth/google/config").await.expect(200);
    assert_eq!(cfg["data"]["fake"], true, "{cfg}");
    let authorize = cfg["data"]["authorizationEndpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let client_id = cfg["data"]["clientId"].as_str().unwrap().to_string();
    let (verifier, challenge) = pkce();
    let redirect = app.url("/test-pages/api-test.html");
    let page = app
        .get(format!(
            "{authorize}?client_id={client_id}&redirect_uri=x&state=s1"
        ))
        .response()
        .await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Fake Google sign-in"));
    let approve = format!(
        "/dev/fake-google/approve?client_id={client_id}&redirect_uri={}&state=s1&code_challenge={challenge}&email=mo%40example.com",
        urlencode(&redirect)
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(app.url(&approve)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let back = url::Url::parse(&location).unwrap();
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "s1");
    let body = json!({ "code": q["code"], "redirectUri": redirect, "codeVerifier": verifier });
    let out = sign_in(&app, body).await.expect(200);
    assert_eq!(out["data"]["user"]["email"], "mo@example.com");
    // Production never mounts it.
    let prod = TestApp::spawn_with(backend, |s| {
        s.google.google_fake = true;
        s.env = taskhub::config::Environment::Production;
    })
    .await;
    prod.get("/dev/fake-google/jwks").await.expect(404);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

backend_tests!(
    id_token_signs_in_and_creates_once,
    existing_email_account_is_linked_not_duplicated,
    bad_id_tokens_are_refused,
    unknown_keys_refetch_the_jwks_at_most_once_per_interval,
    authorization_code_with_pkce,
    wrong_client_secret_and_unconfigured,
    development_fake_issuer_flow,
);
