use reqwest::Method;
use serde_json::{json, Value};
use taskhub::domain::lifecycle::{TaskChange, TaskError, TaskStatus};

use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    task_rest_flow,
    tasks_are_private,
    validation_reports_each_field,
    history_pages_newest_first,
    retry_and_delete_rules,
    image_upload_is_stored
);

async fn task_rest_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("alice").await;
    // `duration` is accepted as an alias of `seconds`, as a string or a number.
    let body = json!({"prompt": "a red fox", "model": "sora-2-pro", "duration": "8", "size": "1792x1024", "quality": "hd"});
    let (s, v) = app
        .json(Method::POST, "/api/video/tasks", Some(&tok), Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    let t = &v["data"];
    let id = t["videoId"].as_str().unwrap().to_string();
    assert!(id.starts_with("video_"));
    assert_eq!(
        (
            t["status"].as_str(),
            t["seq"].as_i64(),
            t["seconds"].as_i64()
        ),
        (Some("queued"), Some(1), Some(8))
    );
    assert_eq!(t["quality"], "hd");

    let (s, got) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["data"]["prompt"], "a red fox");

    let (s, c) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}/content"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 409, "no content before completion: {c}");

    let (s, cancelled) = app
        .json(
            Method::POST,
            &format!("/api/video/tasks/{id}/cancel"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            cancelled["data"]["status"].as_str(),
            cancelled["data"]["seq"].as_i64()
        ),
        (Some("cancelled"), Some(2))
    );
    let (s, _) = app
        .json(
            Method::POST,
            &format!("/api/video/tasks/{id}/cancel"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 409, "terminal states never change");

    let (s, ev) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}/events"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let events = ev["data"]["events"].as_array().unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["payload"]["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, vec![("taskCreated", 1), ("taskCancelled", 2)]);
    assert!(events[1]["timestamp"].as_i64().unwrap() >= events[0]["timestamp"].as_i64().unwrap());
    let (_, since) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}/events?sinceSeq=1"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(since["data"]["events"].as_array().unwrap().len(), 1);

    let (s, stats) = app
        .json(Method::GET, "/api/video/stats", Some(&tok), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            stats["data"]["total"].as_i64(),
            stats["data"]["byStatus"]["cancelled"].as_i64()
        ),
        (Some(1), Some(1))
    );

    let (s, models) = app.json(Method::GET, "/api/video/models", None, None).await;
    assert_eq!(s, 200);
    let ids: Vec<_> = models["data"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["sora-2", "sora-2-pro"]);
    assert_ledger_invariant(&app).await;
}

async fn tasks_are_private(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.token("alice").await;
    let mallory = app.token("mallory").await;
    let id = app.create_task_id(&alice, "secret").await;
    let missing = format!("video_{}", uuid::Uuid::now_v7());
    for path in [
        format!("/api/video/tasks/{id}"),
        format!("/api/video/tasks/{id}/events"),
    ] {
        let (s, theirs) = app.json(Method::GET, &path, Some(&mallory), None).await;
        let (s2, none) = app
            .json(
                Method::GET,
                &path.replace(&id, &missing),
                Some(&mallory),
                None,
            )
            .await;
        assert_eq!((s, s2), (404, 404));
        assert_eq!(
            crate::helpers::without_request_id(theirs),
            crate::helpers::without_request_id(none),
            "someone else's task looks exactly like a missing one"
        );
    }
    let (s, _) = app
        .json(
            Method::POST,
            &format!("/api/video/tasks/{id}/cancel"),
            Some(&mallory),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .json(
            Method::DELETE,
            &format!("/api/video/tasks/{id}"),
            Some(&mallory),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (_, list) = app
        .json(Method::GET, "/api/video/tasks", Some(&mallory), None)
        .await;
    assert_eq!(list["data"]["total"], 0);
    let (s, _) = app.json(Method::GET, "/api/video/tasks", None, None).await;
    assert_eq!(s, 401);
    assert_ledger_invariant(&app).await;
}

async fn validation_reports_each_field(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_prompt_chars = 10).await;
    let tok = app.token("val").await;
    let cases = [
        (json!({"prompt": "", "seconds": 4}), "prompt"),
        (json!({"prompt": "12345678901", "seconds": 4}), "prompt"),
        (json!({"prompt": "ok", "model": "veo"}), "model"),
        (json!({"prompt": "ok", "seconds": 5}), "seconds"),
        (json!({"prompt": "ok", "seconds": "four"}), "seconds"),
        (json!({"prompt": "ok", "size": "1792x1024"}), "size"),
        (json!({"prompt": "ok", "quality": "4k"}), "quality"),
        (
            json!({"prompt": "ok", "webhookUrl": "ftp://x"}),
            "webhookUrl",
        ),
    ];
    for (body, field) in cases {
        let (s, v) = app
            .json(
                Method::POST,
                "/api/video/tasks",
                Some(&tok),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body} -> {v}");
        assert!(
            v["error"]["fields"][field].is_string(),
            "{body}: {field} named in {v}"
        );
    }
    // Exactly at the limit is fine; the limit counts characters, not bytes.
    let (s, v) = app
        .json(
            Method::POST,
            "/api/video/tasks",
            Some(&tok),
            Some(json!({"prompt": "éééééééééé"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_ledger_invariant(&app).await;
}

async fn history_pages_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("pager").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_task_id(&tok, &format!("p{i}")).await);
    }
    let (_, p1) = app
        .json(
            Method::GET,
            "/api/video/tasks?page=1&pageSize=2",
            Some(&tok),
            None,
        )
        .await;
    let (_, p3) = app
        .json(
            Method::GET,
            "/api/video/tasks?page=3&pageSize=2",
            Some(&tok),
            None,
        )
        .await;
    let page_ids = |v: &Value| -> Vec<String> {
        v["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["videoId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(page_ids(&p1), vec![ids[4].clone(), ids[3].clone()]);
    assert_eq!(page_ids(&p3), vec![ids[0].clone()]);
    assert_eq!(
        (
            p1["data"]["total"].as_i64(),
            p1["data"]["pageSize"].as_i64()
        ),
        (Some(5), Some(2))
    );
    app.json(
        Method::POST,
        &format!("/api/video/tasks/{}/cancel", ids[1]),
        Some(&tok),
        None,
    )
    .await;
    let (_, c) = app
        .json(
            Method::GET,
            "/api/video/tasks?status=cancelled",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(page_ids(&c), vec![ids[1].clone()]);
    assert_eq!(c["data"]["total"], 1);
    for bad in [
        "page=0",
        "pageSize=101",
        "page=x",
        "status=done",
        "pageSize=-1",
    ] {
        let (s, v) = app
            .json(
                Method::GET,
                &format!("/api/video/tasks?{bad}"),
                Some(&tok),
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    assert_ledger_invariant(&app).await;
}

async fn retry_and_delete_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("retry").await;
    let id = app.create_task_id(&tok, "will fail").await;
    let (s, _) = app
        .json(
            Method::POST,
            &format!("/api/video/tasks/{id}/retry"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 409, "only failed tasks can be retried");
    let (s, _) = app
        .json(
            Method::DELETE,
            &format!("/api/video/tasks/{id}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 409, "open tasks cannot be deleted");

    let fail = TaskChange {
        status: Some(TaskStatus::Failed),
        error: Some(TaskError {
            code: "providerError".into(),
            message: "boom".into(),
        }),
        ..Default::default()
    };
    app.state
        .store
        .apply_change(&id, &fail)
        .await
        .unwrap()
        .expect("failed");
    let (s, retried) = app
        .json(
            Method::POST,
            &format!("/api/video/tasks/{id}/retry"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 201, "{retried}");
    assert_eq!(retried["data"]["retryOf"], id.as_str());
    assert_eq!(retried["data"]["prompt"], "will fail");
    assert_ne!(retried["data"]["videoId"], id.as_str());

    let (s, _) = app
        .json(
            Method::DELETE,
            &format!("/api/video/tasks/{id}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (_, ev) = app
        .json(
            Method::GET,
            &format!("/api/video/tasks/{id}/events"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(ev["success"], false);
    assert_ledger_invariant(&app).await;
}

async fn image_upload_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("img").await;
    let resp = app
        .post_image_task(
            &tok,
            "animate this",
            vec![0x89, b'P', b'N', b'G', 1, 2, 3],
            "image/png",
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"]["kind"], "imageToVideo");
    let task = app
        .state
        .store
        .get_task(v["data"]["videoId"].as_str().unwrap())
        .await
        .unwrap();
    let saved = app
        .data_path()
        .join(task.input_image.expect("upload path kept"));
    assert_eq!(
        std::fs::read(saved).unwrap(),
        vec![0x89, b'P', b'N', b'G', 1, 2, 3]
    );

    let resp = app
        .post_image_task(&tok, "x", vec![1, 2], "image/gif")
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    assert_ledger_invariant(&app).await;
}
