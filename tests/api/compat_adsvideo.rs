//! The AdsVideo `/api/v1` adapter as its reference's client uses it (adsvideo-api-v1.md):
//! Google sign-in by code through the fake issuer, tokens, me, profile, credits, logout, the
//! showcase, the `{"detail"}` errors (401, 404, 422, 429). The video flows are in
//! `compat_adsvideo_videos.rs`.

use reqwest::Method;
use serde_json::{json, Value};
use taskhub::config::Settings;
use taskhub::routes::fake_google::FakeGoogle;
use taskhub::secret::Secret;

use crate::backend_tests;
use crate::google::issuer;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    google_code_sign_in_me_profile_credits_refresh_logout,
    refusals_are_detail_shaped,
    showcase_lists_in_the_reference_shapes,
);

pub const CALLBACK: &str = "http://localhost:3000/auth/callback";

/// An app whose Google sign-in trusts `fake`, with `tweak` applied.
pub async fn app_with_google(
    backend: Backend,
    fake: &FakeGoogle,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = fake.claims("x@example.com")["iss"]
        .as_str()
        .unwrap()
        .to_string();
    TestApp::spawn_with(backend, |s| {
        s.google.google_client_id = Some("fake-client-id.apps.example".into());
        s.google.google_client_secret = Secret::new("fake-client-secret");
        s.google.google_issuer = url.clone();
        s.google.google_token_url = format!("{url}/token");
        s.google.google_jwks_url = format!("{url}/jwks");
        tweak(s);
    })
    .await
}

/// Signs `email` in as the reference's frontend does (step 1 of its flow): the tokens.
pub async fn sign_in(app: &TestApp, fake: &FakeGoogle, email: &str) -> Value {
    let code = fake.issue_code(email, CALLBACK, None);
    let body = json!({ "code": code, "redirect_uri": CALLBACK });
    app.post("/api/v1/auth/google").json(body).await.expect(200)
}

/// Signs `email` in and returns the access token.
pub async fn token(app: &TestApp, fake: &FakeGoogle, email: &str) -> String {
    sign_in(app, fake, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `YYYY-MM-DDTHH:MM:SS`, as the reference shows datetimes.
pub fn is_naive_datetime(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    let b = s.as_bytes();
    s.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
}

/// A `{"detail": "…"}` body.
#[track_caller]
pub fn detail_message(body: &Value) -> &str {
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    body["detail"].as_str().unwrap_or_else(|| panic!("{body}"))
}

/// A FastAPI 422 naming `field` at `place`.
#[track_caller]
pub fn detail_names(body: &Value, place: &str, field: &str) {
    let list = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        list.iter()
            .any(|e| e["loc"] == json!([place, field]) && e["msg"].is_string()),
        "{body}"
    );
}

async fn google_code_sign_in_me_profile_credits_refresh_logout(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, |_| {}).await;
    let tokens = sign_in(&app, &fake, "Dana@Example.com").await;
    assert_eq!(tokens["token_type"], "bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();

    let me = app.get("/api/v1/auth/me").auth(access).await.expect(200);
    assert!(me["id"].is_i64(), "{me}");
    assert_eq!(me["email"], "dana@example.com");
    assert!(me["name"].as_str().is_some_and(|n| !n.is_empty()), "{me}");
    assert!(me["avatar_url"].is_null());
    assert!(me["credits"].is_f64(), "credits as a float: {me}");
    assert!(is_naive_datetime(&me["created_at"]), "{me}");

    let profile = app.get("/api/v1/users/profile").auth(access).await;
    assert_eq!(profile.expect(200), me);
    let change = json!({ "name": "Jane Doe", "avatar_url": "https://example.com/new-avatar.jpg" });
    let patch = |body: Value| {
        app.request(Method::PATCH, "/api/v1/users/profile")
            .auth(access)
            .json(body)
    };
    let changed = patch(change).await.expect(200);
    assert_eq!(changed["name"], "Jane Doe");
    assert_eq!(changed["avatar_url"], "https://example.com/new-avatar.jpg");
    assert_eq!(
        (changed["id"].clone(), changed["email"].clone()),
        (me["id"].clone(), me["email"].clone())
    );
    // Absent or null fields stay; bad ones are a 422 naming them, and nothing changes.
    let same = patch(json!({ "name": null })).await.expect(200);
    assert_eq!(same["name"], "Jane Doe");
    let bad = patch(json!({ "name": "ok", "avatar_url": "ftp://example.com/a.png" })).await;
    detail_names(&bad.expect(422), "body", "avatar_url");
    let blank = patch(json!({ "name": "   " })).await.expect(422);
    detail_names(&blank, "body", "name");
    let now = app.get("/api/v1/auth/me").auth(access).await.expect(200);
    assert_eq!(now["name"], "Jane Doe");
    // The native profile shows the same change.
    let native = app.get("/api/users/profile").auth(access).await.expect(200);
    assert_eq!(native["data"]["displayName"], "Jane Doe");

    let credits = app
        .get("/api/v1/users/credits")
        .auth(access)
        .await
        .expect(200);
    assert_eq!(credits["user_id"], me["id"]);
    assert_eq!(credits["credits"], me["credits"]);
    let native = app.get("/api/users/credits").auth(access).await.expect(200);
    assert_eq!(
        credits["credits"].as_f64(),
        native["data"]["credits"].as_f64()
    );

    // Refresh rotates; the spent token is refused with a detail.
    let old = tokens["refresh_token"].clone();
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({ "refresh_token": old }));
    let fresh = r.await.expect(200);
    assert_eq!(fresh["token_type"], "bearer");
    assert_ne!(fresh["refresh_token"], old);
    let again = app
        .post("/api/v1/auth/refresh")
        .json(json!({ "refresh_token": old }));
    detail_message(&again.await.expect(401));

    // Signing in again finds the same user.
    let second = token(&app, &fake, "dana@example.com").await;
    let me2 = app.get("/api/v1/auth/me").auth(&second).await.expect(200);
    assert_eq!(me2["id"], me["id"]);

    // Logout: 204; with the (optional) refresh token, that login is revoked.
    let fresh_access = fresh["access_token"].as_str().unwrap();
    let out = app.post("/api/v1/auth/logout").auth(fresh_access);
    assert_eq!(out.await.status, 204);
    let body = json!({ "refresh_token": fresh["refresh_token"] });
    let out = app
        .post("/api/v1/auth/logout")
        .auth(fresh_access)
        .json(body.clone());
    assert_eq!(out.await.status, 204);
    detail_message(
        &app.post("/api/v1/auth/refresh")
            .json(body)
            .await
            .expect(401),
    );
    detail_message(&app.post("/api/v1/auth/logout").await.expect(401));
}

async fn refusals_are_detail_shaped(backend: Backend) {
    let fake = issuer().await;
    let app = app_with_google(backend, &fake, |_| {}).await;
    // 401 without (or with a bad) token, on every signed-in route.
    for (method, path) in [
        (Method::GET, "/api/v1/auth/me"),
        (Method::GET, "/api/v1/users/profile"),
        (Method::PATCH, "/api/v1/users/profile"),
        (Method::GET, "/api/v1/users/credits"),
        (Method::GET, "/api/v1/videos"),
        (Method::POST, "/api/v1/videos/generate"),
        (Method::GET, "/api/v1/videos/1"),
        (Method::DELETE, "/api/v1/videos/1"),
        (Method::POST, "/api/v1/videos/1/retry"),
    ] {
        let r = app.request(method.clone(), path).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
        detail_message(&r.body);
        let r = app.request(method.clone(), path).auth("not-a-jwt").await;
        detail_message(&r.expect(401));
    }
    // A code Google refuses: 401 with a detail; a missing field: FastAPI's 422 list.
    let body = json!({ "code": "made-up", "redirect_uri": CALLBACK });
    detail_message(&app.post("/api/v1/auth/google").json(body).await.expect(401));
    let r = app
        .post("/api/v1/auth/google")
        .json(json!({ "code": "x" }))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body["detail"].is_array(), "{}", r.body);
    let r = app.post("/api/v1/auth/refresh").json(json!({})).await;
    assert!(r.expect(422)["detail"].is_array());
    // An unknown path under the prefix.
    detail_message(&app.get("/api/v1/nothing-here").await.expect(404));
    // Public routes need no token.
    app.get("/api/v1/videos/models/list").await.expect(200);
    let recent = app.get("/api/v1/users/recent").await.expect(200);
    assert!(
        recent["total"].is_i64() && recent["users"].is_array(),
        "{recent}"
    );
}

async fn showcase_lists_in_the_reference_shapes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    taskhub::showcase::seed::seed_demo(&app.state.store)
        .await
        .unwrap();
    let all = app
        .get("/api/v1/showcase/videos?limit=50")
        .await
        .expect(200);
    let videos = all["videos"].as_array().unwrap();
    let total = all["total"].as_i64().unwrap();
    assert!(total >= 3 && videos.len() as i64 == total.min(50), "{all}");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let want = [
        "category",
        "description",
        "id",
        "is_featured",
        "order",
        "poster_url",
        "title",
        "video_url",
    ];
    for v in videos {
        assert_eq!(keys(v), want, "{v}");
        assert!(v["id"].is_i64());
    }
    // The default is 6; skip moves the window; ids stay the same across calls.
    let first = app.get("/api/v1/showcase/videos").await.expect(200);
    assert_eq!(
        first["videos"].as_array().unwrap().len() as i64,
        total.min(6)
    );
    let skipped = app
        .get("/api/v1/showcase/videos?skip=1&limit=2")
        .await
        .expect(200);
    assert_eq!(skipped["videos"][0]["id"], videos[1]["id"], "{skipped}");
    assert_eq!(
        skipped["videos"].as_array().unwrap().len() as i64,
        (total - 1).min(2)
    );
    // Category and featured filters.
    let cat = videos[0]["category"].as_str().unwrap().to_string();
    let by_cat = app.get(format!(
        "/api/v1/showcase/videos?category={}",
        urlencode(&cat)
    ));
    let by_cat = by_cat.await.expect(200);
    assert!(by_cat["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["category"] == cat.as_str()));
    let featured = app
        .get("/api/v1/showcase/videos?featured=true&limit=50")
        .await
        .expect(200);
    let f = featured["videos"].as_array().unwrap();
    assert!(f.iter().all(|v| v["is_featured"] == true), "{featured}");
    let also = app
        .get("/api/v1/showcase/featured?limit=20")
        .await
        .expect(200);
    assert_eq!(also["total"], featured["total"]);
    assert_eq!(also["videos"], featured["videos"]);

    let heroes = app.get("/api/v1/showcase/hero-videos").await.expect(200);
    let h = heroes["videos"].as_array().unwrap();
    assert!(!h.is_empty() && h.len() <= 3, "{heroes}");
    assert_eq!(keys(&h[0]), ["id", "poster_url", "title", "video_url"]);
    let images = app.get("/api/v1/showcase/trial-images").await.expect(200);
    let i = images["images"].as_array().unwrap();
    assert!(!i.is_empty() && i.len() <= 8, "{images}");
    assert_eq!(
        keys(&i[0]),
        ["category", "id", "image_url", "order", "title"]
    );
    assert!(images["total"].as_i64().unwrap() >= i.len() as i64);

    for bad in [
        "/api/v1/showcase/videos?limit=51",
        "/api/v1/showcase/videos?limit=0",
        "/api/v1/showcase/videos?skip=-1",
        "/api/v1/showcase/videos?featured=maybe",
        "/api/v1/showcase/featured?limit=21",
        "/api/v1/showcase/hero-videos?limit=11",
        "/api/v1/showcase/trial-images?limit=21",
    ] {
        let r = app.get(bad).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body["detail"].is_array(), "{bad}: {}", r.body);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The adapter's routes are limited in the classes of their native twins, and a refusal is
/// a 429 `{"detail"}` with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_cover_the_adapter_and_answer_in_its_shape() {
    let fake = issuer().await;
    let app = app_with_google(Backend::Sqlite, &fake, |s| {
        s.http.rate_auth_per_min = 2;
        s.http.rate_task_create_per_min = 1;
    })
    .await;
    // Two sign-in attempts from this address: one good, one refused; the third is limited.
    let tok = token(&app, &fake, "rita@example.com").await;
    let body = json!({ "code": "made-up", "redirect_uri": CALLBACK });
    let r = app.post("/api/v1/auth/google").json(body.clone()).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let resp = app.post("/api/v1/auth/google").json(body).response().await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let limited: Value = resp.json().await.unwrap();
    detail_message(&limited);
    // Video generation is task creation: one a minute here.
    let gen = json!({ "prompt": "one only" });
    app.post("/api/v1/videos/generate")
        .auth(&tok)
        .json(gen.clone())
        .await
        .expect(201);
    let r = app
        .post("/api/v1/videos/generate")
        .auth(&tok)
        .json(gen)
        .await;
    detail_message(&r.expect(429));
    // Reads are counted apart.
    app.get("/api/v1/videos").auth(&tok).await.expect(200);
}

/// The OpenAPI document lists the adapter's operations under its own tag, every refusal in
/// the `{"detail"}` shape, and the models this server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_the_adapter_under_its_tag() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get("/openapi.json").await.expect(200);
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tagged = op["tags"] == json!(["AdsVideo v1"]);
            assert_eq!(tagged, path.starts_with("/api/v1/"), "{method} {path}");
            if !tagged {
                continue;
            }
            ops.push(format!("{} {path}", method.to_uppercase()));
            for (status, r) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') && r.get("content").is_some() {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/AdsVideoDetail",
                        "{method} {path} {status}"
                    );
                }
            }
            assert!(op["responses"].get("429").is_some(), "{method} {path}: 429");
        }
    }
    for op in [
        "POST /api/v1/auth/google",
        "GET /api/v1/videos",
        "POST /api/v1/videos/{video_id}/retry",
        "GET /api/v1/showcase/trial-images",
        "POST /api/v1/upload/image",
        "POST /api/v1/upload/validate",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }
    assert_eq!(ops.len(), 20, "{ops:?}");
    let validate = &doc["paths"]["/api/v1/upload/validate"]["post"];
    assert_eq!(
        validate["security"],
        json!([{}]),
        "validate needs no sign-in"
    );
    let model = &doc["components"]["schemas"]["AdsVideoGenerate"]["properties"]["model"];
    let mut want: Vec<Value> = app
        .state
        .settings
        .models
        .iter()
        .map(|m| json!(m.id))
        .collect();
    want.push(Value::Null);
    assert_eq!(model["enum"], json!(want));
}
