//! `GET`/`PATCH /api/users/profile`, `GET /api/users/recent` and what `/api/auth/me` adds.

use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

crate::backend_tests!(
    profile_starts_empty_and_patches_field_by_field,
    me_shows_profile_credits_and_plan,
    every_bad_field_is_refused_and_nothing_changes,
    recent_users_lists_only_opted_in_names,
);

async fn profile(app: &TestApp, tok: &str) -> Value {
    app.get("/api/users/profile").auth(tok).await.expect(200)["data"].clone()
}

async fn patch(app: &TestApp, tok: &str, body: Value) -> crate::helpers::Reply {
    app.request(reqwest::Method::PATCH, "/api/users/profile")
        .auth(tok)
        .json(body)
        .await
}

async fn profile_starts_empty_and_patches_field_by_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("ada").await;
    let p = profile(&app, &tok).await;
    assert_eq!(
        (&p["username"], &p["displayName"], &p["avatarUrl"]),
        (&json!("ada"), &Value::Null, &Value::Null)
    );
    assert_eq!(
        (&p["language"], &p["showInRecent"]),
        (&json!("en"), &json!(false))
    );

    let all = json!({"displayName": "  Ada Lovelace\n", "avatarUrl": "https://cdn.example.com/ada.png",
        "language": "zh-TW", "showInRecent": true});
    let p = patch(&app, &tok, all).await.expect(200)["data"].clone();
    assert_eq!(p["displayName"], "Ada Lovelace", "trimmed");
    assert_eq!(p["avatarUrl"], "https://cdn.example.com/ada.png");
    assert_eq!(
        (&p["language"], &p["showInRecent"]),
        (&json!("zh-TW"), &json!(true))
    );
    assert_eq!(profile(&app, &tok).await, p, "stored as answered");

    // `{}` changes nothing; one field changes only itself; `null` clears.
    let same = patch(&app, &tok, json!({})).await.expect(200)["data"].clone();
    assert_eq!(same["displayName"], "Ada Lovelace");
    let p = patch(&app, &tok, json!({"language": "ko"}))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        (&p["language"], &p["displayName"]),
        (&json!("ko"), &json!("Ada Lovelace"))
    );
    let p = patch(&app, &tok, json!({"displayName": null, "avatarUrl": null}))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        (&p["displayName"], &p["avatarUrl"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (&p["language"], &p["showInRecent"]),
        (&json!("ko"), &json!(true))
    );

    // Another user's profile is untouched.
    let other = app.token("grace").await;
    assert_eq!(profile(&app, &other).await["language"], "en");
    app.get("/api/users/profile")
        .await
        .expect_error(401, "unauthorized");
    app.request(reqwest::Method::PATCH, "/api/users/profile")
        .json(json!({"language": "ja"}))
        .await
        .expect_error(401, "unauthorized");
}

async fn me_shows_profile_credits_and_plan(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("linus").await;
    let body =
        json!({"displayName": "Linus", "avatarUrl": "http://img.example/l.png", "language": "ja"});
    patch(&app, &tok, body).await.expect(200);
    let me = app.get("/api/auth/me").auth(&tok).await.expect(200)["data"].clone();
    // The fields it always had...
    assert_eq!(
        (&me["username"], &me["email"]),
        (&json!("linus"), &json!("linus@example.com"))
    );
    assert_eq!(me["role"], "user");
    assert!(me["id"].is_string() && me["createdAt"].is_string(), "{me}");
    // ... and the new ones.
    assert_eq!(
        (&me["displayName"], &me["language"]),
        (&json!("Linus"), &json!("ja"))
    );
    assert_eq!(me["avatarUrl"], "http://img.example/l.png");
    assert_eq!(
        (&me["plan"], &me["showInRecent"]),
        (&json!("free"), &json!(false))
    );
    let credits = app.get("/api/users/credits").auth(&tok).await.expect(200);
    assert_eq!(me["credits"], credits["data"]["credits"]);
    assert!(
        me["credits"].as_i64().unwrap() > 0,
        "the signup bonus: {me}"
    );
}

async fn every_bad_field_is_refused_and_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("eve").await;
    let good = json!({"displayName": "Eve", "avatarUrl": "https://a.example/e.png",
        "language": "en", "showInRecent": false});
    let before = patch(&app, &tok, good).await.expect(200)["data"].clone();
    let long_url = format!("https://a.example/{}", "x".repeat(2048));
    let cases = [
        ("displayName", json!("")),
        ("displayName", json!(" \u{3000} ")),
        ("displayName", json!("x".repeat(51))),
        ("displayName", json!("a\u{0}b")),
        ("displayName", json!("tab\there")),
        ("displayName", json!("evil\u{202e}gnp.exe")),
        ("avatarUrl", json!("ftp://a.example/e.png")),
        ("avatarUrl", json!("javascript:alert(1)")),
        ("avatarUrl", json!("https://user:secret@a.example/e.png")),
        ("avatarUrl", json!("https://127.0.0.1/e.png")),
        ("avatarUrl", json!("")),
        ("avatarUrl", json!(long_url)),
        ("language", json!("fr")),
        ("language", json!("EN")),
        ("language", Value::Null),
        ("showInRecent", Value::Null),
        ("email", json!("eve@evil.example")),
        ("id", json!("someone-else")),
    ];
    for (field, value) in cases {
        let body = json!({ field: value });
        let reply = patch(&app, &tok, body.clone()).await;
        assert_eq!(reply.code(), Some("validationFailed"), "{body}");
        reply.expect_invalid(field);
    }
    // A wrong type is a 422 naming the field; a body that is not an object is a 422 too (an
    // array is not taken for the fields in order: schemathesis found that one).
    for (field, value) in [
        ("showInRecent", json!("yes")),
        ("displayName", json!(5)),
        ("avatarUrl", json!(["x"])),
    ] {
        patch(&app, &tok, json!({ field: value }))
            .await
            .expect_invalid(field);
    }
    for body in [json!([null, null]), json!(null), json!("x"), json!([])] {
        patch(&app, &tok, body.clone()).await.expect_invalid("body");
    }
    // Several bad fields: each is named, and the good one in the same body is not applied.
    let reply = patch(
        &app,
        &tok,
        json!({"displayName": "", "language": "xx", "avatarUrl": "https://b.example/"}),
    )
    .await;
    let fields = reply.expect(422)["error"]["fields"].clone();
    assert!(
        fields["displayName"].is_string() && fields["language"].is_string(),
        "{fields}"
    );
    app.request(reqwest::Method::PATCH, "/api/users/profile")
        .auth(&tok)
        .header("content-type", "application/json")
        .body(b"{\"displayName\":".to_vec())
        .await
        .expect_error(400, "badRequest");
    assert_eq!(
        profile(&app, &tok).await,
        before,
        "no refusal changed anything"
    );

    // A valid token of a user who is gone: 401, as /api/auth/me answers.
    let id = app.user_id(&tok).await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.get("/api/users/profile")
        .auth(&tok)
        .await
        .expect_error(401, "unauthorized");
    patch(&app, &tok, json!({"language": "ja"}))
        .await
        .expect_error(401, "unauthorized");
}

async fn recent_users_lists_only_opted_in_names(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let empty = app.get("/api/users/recent").await.expect(200)["data"].clone();
    assert_eq!(empty, json!({"totalUsers": 0, "users": []}));

    let listed = app.token("listed").await;
    let body = json!({"displayName": "Listed One", "avatarUrl": "https://a.example/1.png", "showInRecent": true});
    patch(&app, &listed, body).await.expect(200);
    // Opted in without a display name: not listed (a username is never shown instead).
    let nameless = app.token("nameless").await;
    patch(&app, &nameless, json!({"showInRecent": true}))
        .await
        .expect(200);
    // A display name without opting in: not listed.
    let private = app.token("private").await;
    patch(&app, &private, json!({"displayName": "Private"}))
        .await
        .expect(200);

    let resp = app.get("/api/users/recent").response().await;
    let cache = resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(cache, "public, max-age=30");
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["data"],
        json!({"totalUsers": 3, "users": [{"displayName": "Listed One", "avatarUrl": "https://a.example/1.png"}]})
    );
    for secret in ["listed", "@example.com", "nameless", "Private"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    // Newest first, at most five.
    let mut toks = Vec::new();
    for i in 1..=6 {
        let tok = app.token(&format!("user{i}")).await;
        patch(
            &app,
            &tok,
            json!({"displayName": format!("User {i}"), "showInRecent": true}),
        )
        .await
        .expect(200);
        toks.push(tok);
    }
    let names = || async {
        let data = app.get("/api/users/recent").await.expect(200)["data"].clone();
        assert_eq!(data["totalUsers"], 9);
        let list = data["users"].as_array().unwrap().clone();
        list.iter()
            .map(|u| u["displayName"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names().await,
        ["User 6", "User 5", "User 4", "User 3", "User 2"]
    );
    // Opting out takes a user off the list at once.
    patch(&app, &toks[5], json!({"showInRecent": false}))
        .await
        .expect(200);
    assert_eq!(
        names().await,
        ["User 5", "User 4", "User 3", "User 2", "User 1"]
    );
}
