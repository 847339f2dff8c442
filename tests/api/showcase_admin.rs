//! The admin showcase routes (`/api/admin/showcase/…`): who may call them, field validation,
//! partial updates and deactivation. Every refusal is checked to have changed nothing.
//! Deletes and reorders are in `showcase_order.rs`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::showcase::{create, patch, video};

crate::backend_tests!(
    admin_routes_refuse_anonymous_callers_and_non_admins,
    create_names_every_bad_field_and_saves_nothing,
    update_changes_only_given_fields_and_deactivate_hides,
);

pub const KINDS: [&str; 3] = ["videos", "hero-videos", "trial-images"];

/// Every admin route once: (method, path, body).
fn admin_calls() -> Vec<(Method, String, Value)> {
    let id = format!("sc_{}", uuid::Uuid::now_v7());
    let mut calls = Vec::new();
    for kind in KINDS {
        let base = format!("/api/admin/showcase/{kind}");
        calls.push((Method::GET, base.clone(), Value::Null));
        calls.push((Method::POST, base.clone(), body_for(kind, "t")));
        calls.push((Method::PATCH, format!("{base}/{id}"), json!({"title": "x"})));
        calls.push((Method::DELETE, format!("{base}/{id}"), Value::Null));
        calls.push((
            Method::POST,
            format!("{base}/reorder"),
            json!({"ids": [id]}),
        ));
    }
    let task = format!("video_{}", uuid::Uuid::now_v7());
    let promote = format!("/api/admin/showcase/videos/from-task/{task}");
    calls.push((Method::POST, promote, json!({})));
    calls
}

/// A valid create body for `kind`.
pub fn body_for(kind: &str, title: &str) -> Value {
    match kind {
        "videos" => video(title, "c"),
        "hero-videos" => json!({"title": title, "videoUrl": "/assets/showcase/sample.mp4"}),
        _ => {
            json!({"title": title, "imageUrl": "/assets/showcase/trial-tech.png", "category": "c"})
        }
    }
}

/// The admin's view of every table: (kind, total).
pub async fn totals(app: &TestApp, admin: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for kind in KINDS {
        let v = app
            .get(format!("/api/admin/showcase/{kind}"))
            .auth(admin)
            .await
            .expect(200);
        out.push(v["data"]["total"].as_i64().unwrap());
    }
    out
}

async fn admin_routes_refuse_anonymous_callers_and_non_admins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let user = app.token("plain").await;
    let calls = admin_calls();
    assert_eq!(calls.len(), 16);
    for (method, path, body) in calls {
        let call = |tok: Option<&str>| {
            let mut c = app.request(method.clone(), &path);
            if let Some(t) = tok {
                c = c.auth(t);
            }
            if !body.is_null() {
                c = c.json(body.clone());
            }
            c
        };
        call(None).await.expect_error(401, "unauthorized");
        call(Some(&user)).await.expect_error(403, "forbidden");
    }
    assert_eq!(
        totals(&app, &admin).await,
        vec![0, 0, 0],
        "nothing was created"
    );
}

async fn create_names_every_bad_field_and_saves_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let post = |kind: &str, body: Value| {
        app.post(format!("/api/admin/showcase/{kind}"))
            .auth(&admin)
            .json(body)
    };
    let bad = json!({
        "title": "t".repeat(121), "description": "d".repeat(2001), "category": " ",
        "videoUrl": "javascript:alert(1)", "posterUrl": "ftp://x.example/p.jpg", "duration": 0,
        "quality": "4k", "aspectRatio": "16x9", "order": -1
    });
    let v = post("videos", bad).await.expect(422);
    let fields = v["error"]["fields"].as_object().unwrap();
    for f in [
        "title",
        "description",
        "category",
        "videoUrl",
        "posterUrl",
        "duration",
        "quality",
        "aspectRatio",
        "order",
    ] {
        assert!(fields.contains_key(f), "{f}: {v}");
    }
    let v = post("videos", json!({})).await.expect(422);
    let fields = v["error"]["fields"].as_object().unwrap();
    for f in ["title", "category", "videoUrl", "duration", "aspectRatio"] {
        assert!(fields.contains_key(f), "{f} is required: {v}");
    }
    let mut long = video("t", "c");
    long["duration"] = json!(601);
    post("videos", long).await.expect_invalid("duration");
    let mut creds = video("t", "c");
    creds["videoUrl"] = json!("https://user:pw@cdn.example.com/v.mp4");
    post("videos", creds).await.expect_invalid("videoUrl");
    let mut escape = video("t", "c");
    escape["posterUrl"] = json!("/assets/../data/taskhub.db");
    post("videos", escape).await.expect_invalid("posterUrl");
    let mut unknown = video("t", "c");
    unknown["likeCount"] = json!(1000);
    post("videos", unknown).await.expect_invalid("likeCount");
    post("videos", json!({"title": 5}))
        .await
        .expect_error(422, "validationFailed");
    let raw = app
        .post("/api/admin/showcase/videos")
        .auth(&admin)
        .header("content-type", "application/json");
    raw.body(b"{not json".to_vec())
        .await
        .expect_error(400, "badRequest");
    let text = app
        .post("/api/admin/showcase/videos")
        .auth(&admin)
        .body(b"title=x".to_vec());
    text.await.expect_error(415, "unsupportedMediaType");

    post("hero-videos", json!({"title": "h"}))
        .await
        .expect_invalid("videoUrl");
    post("hero-videos", json!({"title": "h", "videoUrl": "/x/y.mp4"}))
        .await
        .expect_invalid("videoUrl");
    post(
        "hero-videos",
        json!({"title": "h", "videoUrl": "/assets/a.mp4", "posterUrl": "nope"}),
    )
    .await
    .expect_invalid("posterUrl");
    post(
        "trial-images",
        json!({"title": "t", "imageUrl": "/assets/a.png"}),
    )
    .await
    .expect_invalid("category");
    post(
        "trial-images",
        json!({"title": "t", "imageUrl": "data:x", "category": "c"}),
    )
    .await
    .expect_invalid("imageUrl");
    post(
        "trial-images",
        json!({"title": "", "imageUrl": "/assets/a.png", "category": "c".repeat(41)}),
    )
    .await
    .expect_invalid("category");
    assert_eq!(
        totals(&app, &admin).await,
        vec![0, 0, 0],
        "nothing was saved"
    );

    // A valid one is saved as sent, with the defaults.
    let id = create(&app, &admin, "videos", video("Good", "F&B")).await;
    let list = app
        .get("/api/admin/showcase/videos")
        .auth(&admin)
        .await
        .expect(200);
    let v = &list["data"]["items"][0];
    assert_eq!(v["id"], id.as_str());
    assert!(id.starts_with("sc_"));
    assert_eq!(
        (
            v["category"].clone(),
            v["quality"].clone(),
            v["order"].clone()
        ),
        (json!("F&B"), json!("standard"), json!(0))
    );
    assert_eq!(
        (
            v["active"].clone(),
            v["featured"].clone(),
            v["viewCount"].clone()
        ),
        (json!(true), json!(false), json!(0))
    );
}

async fn update_changes_only_given_fields_and_deactivate_hides(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let id = create(&app, &admin, "videos", video("Before", "Product")).await;
    let before = app
        .get(format!("/api/showcase/videos/{id}"))
        .await
        .expect(200)["data"]
        .clone();
    let after = patch(
        &app,
        &admin,
        "videos",
        &id,
        json!({"title": "After", "quality": "hd"}),
    )
    .await
    .expect(200);
    let after = &after["data"];
    assert_eq!(
        (after["title"].clone(), after["quality"].clone()),
        (json!("After"), json!("hd"))
    );
    for f in [
        "description",
        "category",
        "videoUrl",
        "duration",
        "aspectRatio",
        "featured",
        "order",
        "viewCount",
        "createdAt",
    ] {
        assert_eq!(after[f], before[f], "{f} unchanged");
    }
    // A whole number written as a float is a whole number (JSON Schema's integer).
    let v = patch(&app, &admin, "videos", &id, json!({"duration": 5.0}))
        .await
        .expect(200);
    assert_eq!(v["data"]["duration"], 5);
    // Refusals change nothing.
    patch(&app, &admin, "videos", &id, json!({"order": 1.5}))
        .await
        .expect_error(422, "validationFailed");
    patch(&app, &admin, "videos", &id, json!({}))
        .await
        .expect_invalid("body");
    patch(
        &app,
        &admin,
        "videos",
        &id,
        json!({"duration": 601, "title": "No"}),
    )
    .await
    .expect_invalid("duration");
    patch(&app, &admin, "videos", &id, json!({"viewCount": 0}))
        .await
        .expect_invalid("viewCount");
    let unknown = format!("sc_{}", uuid::Uuid::now_v7());
    for bad in [unknown.as_str(), "nope"] {
        patch(&app, &admin, "videos", bad, json!({"title": "x"}))
            .await
            .expect_error(404, "notFound");
        patch(&app, &admin, "hero-videos", bad, json!({"title": "x"}))
            .await
            .expect_error(404, "notFound");
        patch(&app, &admin, "trial-images", bad, json!({"title": "x"}))
            .await
            .expect_error(404, "notFound");
    }
    let now = app
        .get(format!("/api/showcase/videos/{id}"))
        .await
        .expect(200);
    assert_eq!(now["data"]["title"], "After");
    assert_eq!(now["data"]["duration"], before["duration"]);

    // Deactivate: gone from the public, still there for admins; reactivate brings it back.
    patch(&app, &admin, "videos", &id, json!({"active": false}))
        .await
        .expect(200);
    app.get(format!("/api/showcase/videos/{id}"))
        .await
        .expect_error(404, "notFound");
    let public = app.get("/api/showcase/videos").await.expect(200);
    assert_eq!(public["data"]["total"], 0);
    let listed = app
        .get("/api/admin/showcase/videos")
        .auth(&admin)
        .await
        .expect(200);
    assert_eq!(listed["data"]["items"][0]["active"], false);
    patch(&app, &admin, "videos", &id, json!({"active": true}))
        .await
        .expect(200);
    app.get(format!("/api/showcase/videos/{id}"))
        .await
        .expect(200);

    // Hero videos and trial images: the same rules.
    let h = create(
        &app,
        &admin,
        "hero-videos",
        json!({"title": "H", "videoUrl": "/assets/showcase/sample.mp4"}),
    )
    .await;
    let v = patch(
        &app,
        &admin,
        "hero-videos",
        &h,
        json!({"posterUrl": "/assets/showcase/poster-food.png"}),
    )
    .await
    .expect(200);
    assert_eq!(
        (v["data"]["title"].clone(), v["data"]["posterUrl"].clone()),
        (json!("H"), json!("/assets/showcase/poster-food.png"))
    );
    patch(&app, &admin, "hero-videos", &h, json!({"videoUrl": "x"}))
        .await
        .expect_invalid("videoUrl");
    patch(&app, &admin, "hero-videos", &h, json!({"active": false}))
        .await
        .expect(200);
    let heroes = app.get("/api/showcase/hero-videos").await.expect(200);
    assert_eq!(heroes["data"]["items"], json!([]));
    let t = create(
        &app,
        &admin,
        "trial-images",
        json!({"title": "T", "imageUrl": "/assets/showcase/trial-tech.png", "category": "Tech"}),
    )
    .await;
    let v = patch(&app, &admin, "trial-images", &t, json!({"category": "AI"}))
        .await
        .expect(200);
    assert_eq!(
        (v["data"]["title"].clone(), v["data"]["category"].clone()),
        (json!("T"), json!("AI"))
    );
    patch(
        &app,
        &admin,
        "trial-images",
        &t,
        json!({"order": 1_000_001}),
    )
    .await
    .expect_invalid("order");
    patch(&app, &admin, "trial-images", &t, json!({}))
        .await
        .expect_invalid("body");
}
