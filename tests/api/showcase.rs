//! The public showcase (`/api/showcase/…`): paging, filters, inactive items hidden, the
//! refusals of each query; the shipped demo files; `taskhub seed-demo` (idempotent).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

crate::backend_tests!(
    seed_demo_fills_the_public_routes_and_twice_changes_nothing,
    public_lists_page_filter_and_hide_inactive_items,
    public_routes_refuse_bad_queries_and_unknown_ids,
);

/// Every public list, for comparing before and after.
async fn public_lists(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/showcase/videos?pageSize=100",
        "/api/showcase/featured?limit=20",
        "/api/showcase/hero-videos?limit=10",
        "/api/showcase/trial-images?pageSize=100",
    ] {
        out.push(app.get(path).await.expect(200)["data"].clone());
    }
    out
}

/// A video body with every required field.
pub fn video(title: &str, category: &str) -> Value {
    json!({"title": title, "category": category, "videoUrl": "https://cdn.example.com/v.mp4",
           "duration": 5, "aspectRatio": "16:9"})
}

/// Creates an item through the admin route `kind` (`videos`, `hero-videos`,
/// `trial-images`); returns its id.
pub async fn create(app: &TestApp, admin: &str, kind: &str, body: Value) -> String {
    let path = format!("/api/admin/showcase/{kind}");
    let v = app.post(path).auth(admin).json(body).await.expect(201);
    v["data"]["id"].as_str().expect("id").to_string()
}

pub async fn patch(
    app: &TestApp,
    admin: &str,
    kind: &str,
    id: &str,
    body: Value,
) -> crate::helpers::Reply {
    app.request(Method::PATCH, format!("/api/admin/showcase/{kind}/{id}"))
        .auth(admin)
        .json(body)
        .await
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

async fn seed_demo_fills_the_public_routes_and_twice_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The CLI's body, on the app's own database.
    let first = taskhub::cli::seed_demo(&app.state.settings).await.unwrap();
    assert_eq!((first.inserted, first.existing), (9, 0));
    let before = public_lists(&app).await;
    assert_eq!(before[0]["total"], 4);
    assert_eq!(
        before[1]["items"].as_array().unwrap().len(),
        2,
        "two featured"
    );
    assert_eq!(before[2]["items"].as_array().unwrap().len(), 2);
    assert_eq!(before[3]["total"], 3);

    let again = taskhub::cli::seed_demo(&app.state.settings).await.unwrap();
    assert_eq!((again.inserted, again.existing), (0, 9));
    assert_eq!(
        public_lists(&app).await,
        before,
        "a second seeding changes nothing"
    );

    // Every URL the demo uses is served by the app itself, with its type.
    let mut urls = Vec::new();
    for list in &before {
        for item in list["items"].as_array().unwrap() {
            for f in ["videoUrl", "posterUrl", "imageUrl"] {
                if let Some(u) = item[f].as_str() {
                    urls.push(u.to_string());
                }
            }
        }
    }
    for u in &urls {
        assert!(u.starts_with("/assets/showcase/"), "{u}");
        let resp = app.get(u).response().await;
        assert_eq!(resp.status(), 200, "{u}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct == "video/mp4" || ct == "image/png", "{u}: {ct}");
        assert!(!resp.bytes().await.unwrap().is_empty());
    }

    // An admin's edit survives a re-seeding; a deleted demo item comes back.
    let admin = app.admin_token("boss").await;
    let first_id = before[0]["items"][0]["id"].as_str().unwrap().to_string();
    patch(
        &app,
        &admin,
        "videos",
        &first_id,
        json!({"title": "Edited"}),
    )
    .await
    .expect(200);
    let path = format!(
        "/api/admin/showcase/trial-images/{}",
        before[3]["items"][0]["id"].as_str().unwrap()
    );
    app.delete(path).auth(&admin).await.expect(200);
    let third = taskhub::showcase::seed::seed_demo(&app.state.store)
        .await
        .unwrap();
    assert_eq!((third.inserted, third.existing), (1, 8));
    let after = public_lists(&app).await;
    assert_eq!(after[0]["items"][0]["title"], "Edited");
    assert_eq!(
        after[3], before[3],
        "the deleted trial image is back as it was"
    );
}

async fn public_lists_page_filter_and_hide_inactive_items(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let mut a = video("A", "Product");
    a["featured"] = json!(true);
    a["order"] = json!(2);
    let a = create(&app, &admin, "videos", a).await;
    let mut b = video("B", "Fashion");
    b["order"] = json!(1);
    let b = create(&app, &admin, "videos", b).await;
    let mut c = video("C", "Product");
    c["featured"] = json!(true);
    let c = create(&app, &admin, "videos", c).await;
    patch(&app, &admin, "videos", &c, json!({"active": false}))
        .await
        .expect(200);

    let all = app.get("/api/showcase/videos").await.expect(200)["data"].clone();
    assert_eq!(
        ids(&all),
        vec![b.clone(), a.clone()],
        "by order; inactive C hidden"
    );
    assert_eq!(
        (
            all["total"].clone(),
            all["page"].clone(),
            all["pageSize"].clone()
        ),
        (json!(2), json!(1), json!(20))
    );
    let products = app
        .get("/api/showcase/videos?category=Product")
        .await
        .expect(200);
    assert_eq!(ids(&products["data"]), vec![a.clone()]);
    let featured = app
        .get("/api/showcase/videos?featured=true")
        .await
        .expect(200);
    assert_eq!(ids(&featured["data"]), vec![a.clone()]);
    let page2 = app
        .get("/api/showcase/videos?page=2&pageSize=1")
        .await
        .expect(200);
    assert_eq!(
        (ids(&page2["data"]), page2["data"]["total"].clone()),
        (vec![a.clone()], json!(2))
    );
    let empty = app
        .get("/api/showcase/videos?category=&featured=&page=&pageSize=")
        .await
        .expect(200);
    assert_eq!(
        ids(&empty["data"]),
        vec![b.clone(), a.clone()],
        "empty values mean defaults"
    );
    let top = app.get("/api/showcase/featured?limit=1").await.expect(200);
    assert_eq!(ids(&top["data"]), vec![a.clone()]);
    let one = app
        .get(format!("/api/showcase/videos/{a}"))
        .await
        .expect(200);
    assert_eq!(one["data"]["title"], "A");
    assert_eq!(one["data"]["featured"], true);
    app.get(format!("/api/showcase/videos/{c}"))
        .await
        .expect_error(404, "notFound");

    let h1 = create(
        &app,
        &admin,
        "hero-videos",
        json!({"title": "H1", "videoUrl": "/assets/showcase/sample.mp4"}),
    )
    .await;
    let h2 = create(
        &app,
        &admin,
        "hero-videos",
        json!({"title": "H2", "videoUrl": "https://x.example/h.mp4", "active": false}),
    )
    .await;
    let heroes = app.get("/api/showcase/hero-videos").await.expect(200);
    assert_eq!(ids(&heroes["data"]), vec![h1.clone()], "{h2} is inactive");
    let t1 = create(
        &app,
        &admin,
        "trial-images",
        json!({"title": "T1", "imageUrl": "/assets/showcase/trial-tech.png", "category": "Tech"}),
    )
    .await;
    let t2 = create(
        &app,
        &admin,
        "trial-images",
        json!({"title": "T2", "imageUrl": "/assets/showcase/trial-coffee.png", "category": "F&B"}),
    )
    .await;
    patch(&app, &admin, "trial-images", &t2, json!({"active": false}))
        .await
        .expect(200);
    let trials = app.get("/api/showcase/trial-images").await.expect(200);
    assert_eq!(
        (ids(&trials["data"]), trials["data"]["total"].clone()),
        (vec![t1], json!(1))
    );
}

async fn public_routes_refuse_bad_queries_and_unknown_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    taskhub::showcase::seed::seed_demo(&app.state.store)
        .await
        .unwrap();
    let long = "x".repeat(41);
    for path in [
        "/api/showcase/videos?page=0".to_string(),
        "/api/showcase/videos?pageSize=101".into(),
        "/api/showcase/videos?featured=yes".into(),
        format!("/api/showcase/videos?category={long}"),
        "/api/showcase/featured?limit=21".into(),
        "/api/showcase/featured?limit=0".into(),
        "/api/showcase/hero-videos?limit=11".into(),
        "/api/showcase/trial-images?page=0".into(),
        "/api/showcase/trial-images?pageSize=abc".into(),
    ] {
        app.get(&path).await.expect_error(400, "badRequest");
    }
    let unknown = format!("sc_{}", uuid::Uuid::now_v7());
    for id in [unknown.as_str(), "garbage", "video_1", &"sc_".repeat(100)] {
        app.get(format!("/api/showcase/videos/{id}"))
            .await
            .expect_error(404, "notFound");
    }
    app.get("/assets/showcase/nope.png")
        .await
        .expect_error(404, "notFound");
    app.get("/assets/showcase/..%2Fsample.jpg")
        .await
        .expect_error(404, "notFound");
    // The sample video answers ranges (browsers seek with them).
    let resp = app
        .get("/assets/showcase/sample.mp4")
        .header("range", "bytes=0-9")
        .response()
        .await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap().len(), 10);
    let resp = app
        .get("/assets/showcase/sample.mp4")
        .header("range", "bytes=999999999-")
        .response()
        .await;
    assert_eq!(resp.status(), 416);
    // Nothing above counted a view or changed a row.
    let v = app.get("/api/showcase/videos").await.expect(200);
    assert!(v["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["viewCount"] == 0));
}

/// The real binary: `taskhub seed-demo` twice on one data dir adds the demo once.
#[tokio::test]
async fn seed_demo_command_adds_the_demo_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || async {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhub"))
            .arg("seed-demo")
            .env_remove("DATABASE_URL")
            .env("TASKHUB_DATA_DIR", dir.path())
            .env("JWT_SECRET", crate::process::SECRET)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
            .await
            .expect("seed-demo finished in time")
            .expect("seed-demo ran");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(run()
        .await
        .contains("demo showcase: 9 added, 0 already there"));
    assert!(run()
        .await
        .contains("demo showcase: 0 added, 9 already there"));
}
