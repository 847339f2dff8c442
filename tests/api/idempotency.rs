//! `Idempotency-Key` on `POST /api/video/tasks`: a repeat returns the task the key made
//! (charged once, `Idempotent-Replayed: true`), even when the balance no longer covers a
//! second one; the same key with a different request is 422 `idempotencyKeyReused`; keys are
//! per user; bad keys are 400 and make nothing; concurrent repeats make one task and store
//! one image. The same on `POST …/retry`, where the retried task is part of the request.

use serde_json::{json, Value};

use crate::billing::{credits, failed};
use crate::helpers::{Backend, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    a_repeat_returns_the_task_it_made_charged_once,
    concurrent_repeats_make_one_task_and_store_one_image,
    a_repeated_retry_makes_one_task
);

const KEY: &str = "6f1c2a9e-1b7d-4c1e-9f3a-2d5b8e7c4a10";

/// Posts `body` under `key`; see [`keyed_reply`].
async fn post_keyed(app: &TestApp, tok: &str, key: &str, body: Value) -> (u16, Value, bool) {
    let call = app.post_task(tok, body).header("idempotency-key", key);
    keyed_reply(call.response().await).await
}

/// (status, body, whether the answer says it was replayed).
async fn keyed_reply(resp: reqwest::Response) -> (u16, Value, bool) {
    let status = resp.status().as_u16();
    let replayed = match resp.headers().get("idempotent-replayed") {
        Some(v) => {
            assert_eq!(v, "true");
            true
        }
        None => false,
    };
    (status, resp.json().await.unwrap_or(Value::Null), replayed)
}

async fn task_count(app: &TestApp, user_token: &str) -> i64 {
    let page = app
        .get("/api/video/tasks?pageSize=100")
        .auth(user_token)
        .await
        .expect(200);
    page["data"]["total"].as_i64().expect("total")
}

async fn a_repeat_returns_the_task_it_made_charged_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("idem").await;
    let start = credits(&app, &tok).await["credits"].as_i64().unwrap();
    let body = json!({"prompt": "a fox in the snow", "seconds": 4});

    let (status, first, replayed) = post_keyed(&app, &tok, KEY, body.clone()).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let id = first["data"]["videoId"].as_str().unwrap().to_string();
    let price = start - credits(&app, &tok).await["credits"].as_i64().unwrap();
    assert!(price > 0);

    let (status, again, replayed) = post_keyed(&app, &tok, KEY, body.clone()).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again["data"]["videoId"], id.as_str());
    assert_eq!(again["data"]["prompt"], "a fox in the snow");
    assert_eq!(task_count(&app, &tok).await, 1);
    assert_eq!(
        credits(&app, &tok).await["credits"].as_i64().unwrap(),
        start - price,
        "charged once"
    );

    // The same key for another request: refused, nothing made or charged.
    let other = json!({"prompt": "a fox in the rain", "seconds": 4});
    let (status, refused, _) = post_keyed(&app, &tok, KEY, other).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotencyKeyReused");
    let longer = json!({"prompt": "a fox in the snow", "seconds": 8});
    let (status, _, _) = post_keyed(&app, &tok, KEY, longer).await;
    assert_eq!(status, 422);
    assert_eq!(task_count(&app, &tok).await, 1);

    // Keys are per user: another user's same key makes that user's own task.
    let bob = app.token("idem-bob").await;
    let (status, theirs, replayed) = post_keyed(&app, &bob, KEY, body.clone()).await;
    assert_eq!((status, replayed), (201, false), "{theirs}");
    assert_ne!(theirs["data"]["videoId"], id.as_str());

    // Bad keys: 400, nothing made.
    let too_long = "k".repeat(256);
    for bad in ["has space", too_long.as_str()] {
        let (status, reply, _) = post_keyed(&app, &tok, bad, body.clone()).await;
        assert_eq!(status, 400, "{bad}: {reply}");
    }
    assert_eq!(task_count(&app, &tok).await, 1);

    // Spend the rest: the repeat still answers with its task, not 402.
    loop {
        let reply = app.post_task(&tok, body.clone()).await;
        if reply.status == 402 {
            break;
        }
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let (status, again, replayed) = post_keyed(&app, &tok, KEY, body.clone()).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again["data"]["videoId"], id.as_str());

    // Once its task is deleted the key is free again (and makes a new task, if paid for).
    app.buy_local_test_credits(&tok, "trial").await.expect(200);
    app.post(format!("/api/video/tasks/{id}/cancel"))
        .auth(&tok)
        .await
        .expect(200);
    app.delete(format!("/api/video/tasks/{id}"))
        .auth(&tok)
        .await
        .expect(200);
    let (status, fresh, replayed) = post_keyed(&app, &tok, KEY, body).await;
    assert_eq!((status, replayed), (201, false), "{fresh}");
    assert_ne!(fresh["data"]["videoId"], id.as_str());
    assert_ledger_invariant(&app).await;
}

async fn concurrent_repeats_make_one_task_and_store_one_image(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("idem-race").await;
    let start = credits(&app, &tok).await["credits"].as_i64().unwrap();
    let png = vec![0x89, b'P', b'N', b'G', 7, 7, 7];
    let post = || {
        let part = reqwest::multipart::Part::bytes(png.clone())
            .file_name("image")
            .mime_str("image/png")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("prompt", "the same picture")
            .text("seconds", "4")
            .part("image", part);
        let resp = app
            .post("/api/video/tasks")
            .auth(&tok)
            .header("idempotency-key", KEY)
            .multipart(form)
            .response();
        async move { keyed_reply(resp.await).await }
    };
    let replies = futures_util::future::join_all((0..8).map(|_| post())).await;
    let mut ids = std::collections::HashSet::new();
    let mut made = 0;
    for (status, body, replayed) in &replies {
        assert_eq!(*status, 201, "{body}");
        ids.insert(body["data"]["videoId"].as_str().unwrap().to_string());
        made += usize::from(!replayed);
    }
    assert_eq!(ids.len(), 1, "one task for eight repeats: {ids:?}");
    assert_eq!(made, 1, "one answer made it, seven replayed it");
    assert_eq!(task_count(&app, &tok).await, 1);
    let left = credits(&app, &tok).await["credits"].as_i64().unwrap();
    let price = app
        .state
        .settings
        .billing
        .task_price("imageToVideo", "standard");
    assert_eq!(left, start - price, "charged once");
    let stored = std::fs::read_dir(app.data_path().join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        stored, 1,
        "the repeats' own copies of the image are removed"
    );
    assert_ledger_invariant(&app).await;
}

async fn fail(app: &TestApp, id: &str) {
    let store = &app.state.store;
    store
        .apply_change(id, &failed())
        .await
        .unwrap()
        .expect("failed");
}

async fn a_repeated_retry_makes_one_task(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("idem-retry").await;
    let first = app.create_task_id(&tok, "fails twice").await;
    let second = app.create_task_id(&tok, "fails twice").await;
    fail(&app, &first).await;
    fail(&app, &second).await;
    let before = credits(&app, &tok).await["credits"].as_i64().unwrap();
    let retry = |id: &str, key: &str| {
        let call = app
            .post(format!("/api/video/tasks/{id}/retry"))
            .auth(&tok)
            .header("idempotency-key", key);
        async move { keyed_reply(call.response().await).await }
    };
    let (status, made, replayed) = retry(&first, "retry-1").await;
    assert_eq!((status, replayed), (201, false), "{made}");
    let (status, again, replayed) = retry(&first, "retry-1").await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again["data"]["videoId"], made["data"]["videoId"]);
    assert_eq!(again["data"]["retryOf"], first.as_str());
    // The same key for retrying another task (same prompt, same settings) is another request.
    let (status, refused, _) = retry(&second, "retry-1").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotencyKeyReused");
    let (status, _, _) = retry(&first, "has space").await;
    assert_eq!(status, 400);
    let price = app
        .state
        .settings
        .billing
        .task_price("textToVideo", "standard");
    assert_eq!(
        credits(&app, &tok).await["credits"].as_i64().unwrap(),
        before - price,
        "one retry charged"
    );
    assert_eq!(task_count(&app, &tok).await, 3);
    assert_ledger_invariant(&app).await;
}
