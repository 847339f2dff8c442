//! Showcase view counting (once per viewer and clock hour, atomic under concurrency), the
//! view log's pruning, and promoting a user's finished task into the showcase.

use serde_json::json;
use taskhub::domain::lifecycle::{TaskChange, TaskResult, TaskStatus};
use taskhub::domain::time::now_ms;

use crate::helpers::{Backend, TestApp};
use crate::showcase::{create, video};
use crate::ws_client::drive;

crate::backend_tests!(
    a_view_counts_once_per_viewer_and_hour_even_when_concurrent,
    old_view_rows_are_pruned_and_a_new_hour_counts_again,
    promote_copies_a_completed_task_once,
    promote_refuses_unfinished_unknown_and_bad_input,
);

const HOUR_MS: i64 = 3_600_000;

async fn view_count(app: &TestApp, admin: &str) -> i64 {
    let v = app
        .get("/api/admin/showcase/videos")
        .auth(admin)
        .await
        .expect(200);
    v["data"]["items"][0]["viewCount"].as_i64().unwrap()
}

async fn a_view_counts_once_per_viewer_and_hour_even_when_concurrent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let id = create(&app, &admin, "videos", video("V", "c")).await;
    let path = format!("/api/showcase/videos/{id}");

    // 20 concurrent fetches by one anonymous viewer (one address): one view.
    let fetches = (0..20).map(|_| app.get(&path).send());
    for r in futures_util::future::join_all(fetches).await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(view_count(&app, &admin).await, 1);

    // 20 concurrent fetches by 20 signed-in users: 20 more.
    // (Real accounts: a token of a user that does not exist counts as its address.)
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(app.token(&format!("viewer{i}")).await);
    }
    let fetches = tokens.iter().map(|t| app.get(&path).auth(t).send());
    for r in futures_util::future::join_all(fetches).await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(view_count(&app, &admin).await, 21);

    // The same users again, and an invalid token (counted as the address, already seen).
    for t in &tokens[..3] {
        let v = app.get(&path).auth(t).await.expect(200);
        assert_eq!(v["data"]["viewCount"], 21);
    }
    app.get(&path).auth("not-a-token").await.expect(200);
    assert_eq!(view_count(&app, &admin).await, 21);
    assert_eq!(app.state.store.count_showcase_views().await.unwrap(), 21);

    // Admin reads and lists never count; an inactive video is not counted.
    app.get("/api/showcase/videos").await.expect(200);
    let other = app.state.jwt.issue("late-viewer", "late").unwrap().0;
    let v = app
        .request(
            reqwest::Method::PATCH,
            format!("/api/admin/showcase/videos/{id}"),
        )
        .auth(&admin)
        .json(json!({"active": false}))
        .await
        .expect(200);
    assert_eq!(v["data"]["viewCount"], 21, "an update keeps the count");
    app.get(&path)
        .auth(&other)
        .await
        .expect_error(404, "notFound");
    assert_eq!(view_count(&app, &admin).await, 21);
    assert_eq!(app.state.store.count_showcase_views().await.unwrap(), 21);
}

async fn old_view_rows_are_pruned_and_a_new_hour_counts_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let id = create(&app, &admin, "videos", video("V", "c")).await;
    let store = &app.state.store;
    let hour = now_ms() / HOUR_MS;
    for h in [hour - 5, hour - 2, hour - 1, hour] {
        let v = store
            .view_showcase_video(&id, "u:someone", h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.view_count, count_before(h, hour) + 1);
    }
    assert_eq!(view_count(&app, &admin).await, 4, "each hour counts once");
    let deleted = taskhub::showcase::prune_views(store, now_ms())
        .await
        .unwrap();
    assert_eq!(deleted, 2, "hours before the previous one go");
    assert_eq!(store.count_showcase_views().await.unwrap(), 2);
    // The current hour's row is kept: the same viewer still counts once.
    store
        .view_showcase_video(&id, "u:someone", hour)
        .await
        .unwrap();
    assert_eq!(view_count(&app, &admin).await, 4);
    assert_eq!(
        taskhub::showcase::prune_views(store, now_ms())
            .await
            .unwrap(),
        0
    );
    // Deleting the video deletes its view rows.
    let path = format!("/api/admin/showcase/videos/{id}");
    app.delete(path).auth(&admin).await.expect(200);
    assert_eq!(store.count_showcase_views().await.unwrap(), 0);
    assert!(store
        .view_showcase_video(&id, "u:x", hour)
        .await
        .unwrap()
        .is_none());
}

/// The view count after viewing in hour `h` (hours are viewed oldest first).
fn count_before(h: i64, hour: i64) -> i64 {
    [hour - 5, hour - 2, hour - 1, hour]
        .iter()
        .filter(|x| **x < h)
        .count() as i64
}

fn completed(video: &str, thumb: Option<&str>) -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Completed),
        progress: Some(100),
        result: Some(TaskResult {
            video_url: video.into(),
            thumbnail_url: thumb.map(Into::into),
            duration: Some(4),
            resolution: Some("720x1280".into()),
        }),
        ..Default::default()
    }
}

async fn promote_copies_a_completed_task_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let owner = app.token("owner").await;
    let id = app
        .create_task_id(&owner, "a red fox runs through snow")
        .await;
    let media = app.data_path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join(format!("{id}.mp4")), b"fake video bytes").unwrap();
    std::fs::write(media.join(format!("{id}.jpg")), b"fake poster bytes").unwrap();
    drive(
        &app.state,
        &id,
        completed(&format!("{id}.mp4"), Some(&format!("{id}.jpg"))),
    )
    .await;

    let path = format!("/api/admin/showcase/videos/from-task/{id}");
    let v = app.post(&path).auth(&admin).await.expect(201)["data"].clone();
    assert_eq!(v["title"], "a red fox runs through snow");
    assert_eq!(v["description"], "a red fox runs through snow");
    assert_eq!(
        (v["category"].clone(), v["duration"].clone()),
        (json!("Community"), json!(4))
    );
    assert_eq!(
        (v["quality"].clone(), v["aspectRatio"].clone()),
        (json!("standard"), json!("9:16"))
    );
    let sid = v["id"].as_str().unwrap().to_string();
    // A second promotion of the same task is refused.
    app.post(&path)
        .auth(&admin)
        .await
        .expect_error(409, "conflict");

    // The files were copied: the showcase plays them after the owner deletes the task.
    app.delete_task(&owner, &id).await.expect(200);
    assert!(!media.join(format!("{id}.mp4")).exists());
    let public = app
        .get(format!("/api/showcase/videos/{sid}"))
        .await
        .expect(200);
    for (field, bytes) in [
        ("videoUrl", &b"fake video bytes"[..]),
        ("posterUrl", &b"fake poster bytes"[..]),
    ] {
        let url = public["data"][field].as_str().unwrap();
        assert!(
            url.starts_with("/media/video_") && url.contains("sig="),
            "{url}"
        );
        assert!(!url.contains(&id), "a copy, not the task's file: {url}");
        let body = app.get(url).response().await.bytes().await.unwrap();
        assert_eq!(&body[..], bytes);
    }
    let copies = || std::fs::read_dir(&media).unwrap().count();
    assert_eq!(copies(), 2);
    // Replacing the poster deletes its copy; the video's stays.
    let poster = json!({"posterUrl": "/assets/showcase/poster-food.png"});
    let path = format!("/api/admin/showcase/videos/{sid}");
    let v = app
        .request(reqwest::Method::PATCH, &path)
        .auth(&admin)
        .json(poster)
        .await
        .expect(200);
    assert_eq!(v["data"]["posterUrl"], "/assets/showcase/poster-food.png");
    assert_eq!(copies(), 1);
    let url = v["data"]["videoUrl"].as_str().unwrap();
    assert_eq!(app.get(url).response().await.status(), 200);
    // Deleting the showcase video deletes its copies.
    app.delete(format!("/api/admin/showcase/videos/{sid}"))
        .auth(&admin)
        .await
        .expect(200);
    assert_eq!(copies(), 0);

    // A task whose video stayed at the provider: the URL is kept, with the admin's fields.
    let id2 = app.create_task_id(&owner, "a blue whale").await;
    drive(
        &app.state,
        &id2,
        completed("https://cdn.example.com/whale.mp4", None),
    )
    .await;
    let body = json!({"title": "Whale", "category": "Nature", "featured": true, "order": 3});
    let path2 = format!("/api/admin/showcase/videos/from-task/{id2}");
    let v = app.post(&path2).auth(&admin).json(body).await.expect(201)["data"].clone();
    assert_eq!(
        (
            v["title"].clone(),
            v["category"].clone(),
            v["featured"].clone(),
            v["order"].clone()
        ),
        (json!("Whale"), json!("Nature"), json!(true), json!(3))
    );
    assert_eq!(
        (v["videoUrl"].clone(), v["posterUrl"].clone()),
        (json!("https://cdn.example.com/whale.mp4"), json!(null))
    );
}

async fn promote_refuses_unfinished_unknown_and_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let owner = app.token("owner").await;
    let promote = |id: &str| {
        app.post(format!("/api/admin/showcase/videos/from-task/{id}"))
            .auth(&admin)
    };

    let queued = app.create_task_id(&owner, "still queued").await;
    promote(&queued).await.expect_error(409, "conflict");
    let failed = app.create_task_id(&owner, "will fail").await;
    let fail = TaskChange {
        status: Some(TaskStatus::Failed),
        error: Some(taskhub::domain::lifecycle::TaskError {
            code: "x".into(),
            message: "y".into(),
        }),
        ..Default::default()
    };
    drive(&app.state, &failed, fail).await;
    promote(&failed).await.expect_error(409, "conflict");
    let unknown = format!("video_{}", uuid::Uuid::now_v7());
    promote(&unknown).await.expect_error(404, "notFound");
    promote("garbage").await.expect_error(404, "notFound");

    // Its media file is gone (a key without a file): 409, nothing left behind.
    let gone = app.create_task_id(&owner, "file gone").await;
    drive(&app.state, &gone, completed(&format!("{gone}.mp4"), None)).await;
    promote(&gone).await.expect_error(409, "conflict");

    let done = app.create_task_id(&owner, "fine").await;
    drive(
        &app.state,
        &done,
        completed("https://cdn.example.com/ok.mp4", None),
    )
    .await;
    promote(&done)
        .json(json!({"title": "t".repeat(121)}))
        .await
        .expect_invalid("title");
    promote(&done)
        .json(json!({"order": -1}))
        .await
        .expect_invalid("order");
    promote(&done)
        .json(json!({"videoUrl": "https://evil.example/x.mp4"}))
        .await
        .expect_invalid("videoUrl");
    promote(&done)
        .header("content-type", "application/json")
        .body(b"{oops".to_vec())
        .await
        .expect_error(400, "badRequest");
    let list = app
        .get("/api/admin/showcase/videos")
        .auth(&admin)
        .await
        .expect(200);
    assert_eq!(list["data"]["total"], 0, "no refusal saved anything");
    let media = app.data_path().join("media");
    let files = std::fs::read_dir(&media).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "no copy left behind");
    // Then the valid promotion works.
    promote(&done).await.expect(201);
}
