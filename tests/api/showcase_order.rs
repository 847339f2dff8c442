//! Admin deletes and reorders of showcase items (all or nothing; refusals move nothing).

use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::showcase::{create, video};
use crate::showcase_admin::{body_for, totals, KINDS};

crate::backend_tests!(
    delete_removes_and_a_second_delete_is_404,
    reorder_sets_display_order_all_or_nothing,
);

async fn delete_removes_and_a_second_delete_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let ids = [
        create(&app, &admin, "videos", video("V", "c")).await,
        create(
            &app,
            &admin,
            "hero-videos",
            json!({"title": "H", "videoUrl": "/assets/showcase/sample.mp4"}),
        )
        .await,
        create(
            &app,
            &admin,
            "trial-images",
            json!({"title": "T", "imageUrl": "/assets/showcase/trial-tech.png", "category": "c"}),
        )
        .await,
    ];
    for (kind, id) in KINDS.iter().zip(&ids) {
        let path = format!("/api/admin/showcase/{kind}/{id}");
        let v = app.delete(&path).auth(&admin).await.expect(200);
        assert_eq!(v["data"], json!({"ids": [id], "action": "deleted"}));
        app.delete(&path)
            .auth(&admin)
            .await
            .expect_error(404, "notFound");
        let bad = format!("/api/admin/showcase/{kind}/bogus");
        app.delete(&bad)
            .auth(&admin)
            .await
            .expect_error(404, "notFound");
    }
    assert_eq!(totals(&app, &admin).await, vec![0, 0, 0]);
    app.get(format!("/api/showcase/videos/{}", ids[0]))
        .await
        .expect_error(404, "notFound");
}

async fn reorder_sets_display_order_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("boss").await;
    let reorder = |kind: &str, ids: Value| {
        app.post(format!("/api/admin/showcase/{kind}/reorder"))
            .auth(&admin)
            .json(json!({"ids": ids}))
    };
    let listed = |v: Value| -> Vec<String> {
        v["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    for kind in KINDS {
        let body = |n: &str| body_for(kind, n);
        let a = create(&app, &admin, kind, body("a")).await;
        let b = create(&app, &admin, kind, body("b")).await;
        let c = create(&app, &admin, kind, body("c")).await;
        let admin_list = format!("/api/admin/showcase/{kind}");
        assert_eq!(
            listed(app.get(&admin_list).auth(&admin).await.expect(200)),
            vec![a.clone(), b.clone(), c.clone()]
        );
        let v = reorder(kind, json!([c, a, b])).await.expect(200);
        assert_eq!(v["data"]["action"], "reordered");
        let order = vec![c.clone(), a.clone(), b.clone()];
        assert_eq!(
            listed(app.get(&admin_list).auth(&admin).await.expect(200)),
            order
        );

        // Refusals: nothing moves.
        let unknown = format!("sc_{}", uuid::Uuid::now_v7());
        reorder(kind, json!([b, unknown]))
            .await
            .expect_error(404, "notFound");
        reorder(kind, json!([a, "bogus"]))
            .await
            .expect_error(404, "notFound");
        reorder(kind, json!([a, a])).await.expect_invalid("ids");
        reorder(kind, json!([])).await.expect_invalid("ids");
        let many: Vec<String> = (0..1001)
            .map(|_| format!("sc_{}", uuid::Uuid::now_v7()))
            .collect();
        reorder(kind, json!(many)).await.expect_invalid("ids");
        app.post(format!("/api/admin/showcase/{kind}/reorder"))
            .auth(&admin)
            .json(json!({"ids": [a], "x": 1}))
            .await
            .expect_invalid("x");
        assert_eq!(
            listed(app.get(&admin_list).auth(&admin).await.expect(200)),
            order
        );
    }
    // The public list follows the order too.
    let public = app.get("/api/showcase/videos").await.expect(200);
    let titles: Vec<&str> = public["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["c", "a", "b"]);
}
