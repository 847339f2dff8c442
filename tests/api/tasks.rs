use reqwest::Method;
use serde_json::{json, Value};
use taskhub::domain::lifecycle::{TaskChange, TaskError, TaskStatus};

use crate::helpers::{without_request_id, Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    task_rest_flow,
    tasks_are_private,
    validation_reports_each_field,
    history_pages_newest_first,
    retry_and_delete_rules,
    image_upload_is_stored,
    a_bad_stored_row_is_an_error_not_a_default
);

/// A status or event the code does not know (a row written by hand, or by a newer version)
/// is refused with an error, never read as `queued` or as an empty payload.
async fn a_bad_stored_row_is_an_error_not_a_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("badrow").await;
    let id = app.create_task_id(&tok, "a bad row").await;
    let store = &app.state.store;
    assert!(store.get_task(&id).await.is_ok());
    assert_eq!(store.events_since(&id, 0, 10).await.unwrap().len(), 1);

    sqlx::query("UPDATE task_events SET payload = '{\"videoId\":\"x\"}' WHERE task_id = $1")
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.events_since(&id, 0, 10).await.unwrap_err();
    assert!(
        !matches!(err, taskhub::store::StoreError::NotFound),
        "{err}"
    );

    sqlx::query("UPDATE tasks SET status = 'paused' WHERE id = $1")
        .bind(&id)
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.get_task(&id).await.unwrap_err();
    assert!(
        !matches!(err, taskhub::store::StoreError::NotFound),
        "{err}"
    );
    // The REST route answers 500 (logged), not a task that pretends to be queued.
    let reply = app.get(&format!("/api/video/tasks/{id}")).auth(&tok).await;
    assert_eq!(reply.status, 500, "{:?}", reply.body);
}

async fn task_rest_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("alice").await;
    // `duration` is accepted as an alias of `seconds`, as a string or a number.
    let body = json!({"prompt": "a red fox", "model": "sora-2-pro", "duration": "8", "size": "1792x1024", "quality": "hd"});
    let v = app.post_task(&tok, body).await.expect(201);
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

    let got = app.get_task(&tok, &id).await.expect(200);
    assert_eq!(got["data"]["prompt"], "a red fox");

    app.task_content(&tok, &id)
        .await
        .expect_because(409, "no content before completion");

    let cancelled = app.cancel_task(&tok, &id).await.expect(200);
    assert_eq!(
        (
            cancelled["data"]["status"].as_str(),
            cancelled["data"]["seq"].as_i64()
        ),
        (Some("cancelled"), Some(2))
    );
    app.cancel_task(&tok, &id)
        .await
        .expect_because(409, "terminal states never change");

    let ev = app
        .task_call(Method::GET, &tok, &id, "/events")
        .await
        .expect(200);
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
    let since = app
        .task_call(Method::GET, &tok, &id, "/events?sinceSeq=1")
        .await
        .body;
    assert_eq!(since["data"]["events"].as_array().unwrap().len(), 1);

    let stats = app.get("/api/video/stats").auth(&tok).await.expect(200);
    assert_eq!(
        (
            stats["data"]["total"].as_i64(),
            stats["data"]["byStatus"]["cancelled"].as_i64()
        ),
        (Some(1), Some(1))
    );

    let models = app.get("/api/video/models").await.expect(200);
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
        let theirs = app.get(&path).auth(&mallory).await;
        let none = app.get(path.replace(&id, &missing)).auth(&mallory).await;
        assert_eq!((theirs.status, none.status), (404, 404));
        assert_eq!(
            without_request_id(theirs.body),
            without_request_id(none.body),
            "someone else's task looks exactly like a missing one"
        );
    }
    app.cancel_task(&mallory, &id).await.expect(404);
    app.delete_task(&mallory, &id).await.expect(404);
    let list = app.get("/api/video/tasks").auth(&mallory).await.body;
    assert_eq!(list["data"]["total"], 0);
    app.get("/api/video/tasks").await.expect(401);
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
        let v = app
            .post_task(&tok, body.clone())
            .await
            .expect_because(422, &body);
        assert!(
            v["error"]["fields"][field].is_string(),
            "{body}: {field} named in {v}"
        );
    }
    // Exactly at the limit is fine; the limit counts characters, not bytes.
    app.post_task(&tok, json!({"prompt": "éééééééééé"}))
        .await
        .expect(201);
    assert_ledger_invariant(&app).await;
}

async fn history_pages_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("pager").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_task_id(&tok, &format!("p{i}")).await);
    }
    let p1 = app
        .get("/api/video/tasks?page=1&pageSize=2")
        .auth(&tok)
        .await
        .body;
    let p3 = app
        .get("/api/video/tasks?page=3&pageSize=2")
        .auth(&tok)
        .await
        .body;
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
    app.cancel_task(&tok, &ids[1]).await;
    let c = app
        .get("/api/video/tasks?status=cancelled")
        .auth(&tok)
        .await
        .body;
    assert_eq!(page_ids(&c), vec![ids[1].clone()]);
    assert_eq!(c["data"]["total"], 1);
    for bad in [
        "page=0",
        "pageSize=101",
        "page=x",
        "status=done",
        "pageSize=-1",
    ] {
        let reply = app.get(format!("/api/video/tasks?{bad}")).auth(&tok).await;
        reply.expect_because(400, bad);
    }
    assert_ledger_invariant(&app).await;
}

async fn retry_and_delete_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("retry").await;
    let id = app.create_task_id(&tok, "will fail").await;
    app.retry_task(&tok, &id)
        .await
        .expect_because(409, "only failed tasks can be retried");
    app.delete_task(&tok, &id)
        .await
        .expect_because(409, "open tasks cannot be deleted");

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
    let retried = app.retry_task(&tok, &id).await.expect(201);
    assert_eq!(retried["data"]["retryOf"], id.as_str());
    assert_eq!(retried["data"]["prompt"], "will fail");
    assert_ne!(retried["data"]["videoId"], id.as_str());

    app.delete_task(&tok, &id).await.expect(200);
    app.get_task(&tok, &id).await.expect(404);
    let ev = app.task_call(Method::GET, &tok, &id, "/events").await.body;
    assert_eq!(ev["success"], false);
    assert_ledger_invariant(&app).await;
}

async fn image_upload_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("img").await;
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    let v = app
        .post_image_task(&tok, "animate this", png, "image/png")
        .await
        .expect(201);
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

    app.post_image_task(&tok, "x", vec![1, 2], "image/gif")
        .await
        .expect(422);
    assert_ledger_invariant(&app).await;
}
