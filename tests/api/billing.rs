//! Credits on tasks: the charge in the creating transaction (200 concurrent creations),
//! exactly-once refunds on failure and cancel, retries charged again. Every scenario ends
//! with the ledger invariant.

use reqwest::Method;
use serde_json::{json, Value};
use taskhub::domain::lifecycle::{TaskChange, TaskError, TaskStatus};

use crate::helpers::{Backend, Call, Reply, TestApp};
use crate::ledger_check::assert_ledger_invariant;

crate::backend_tests!(
    concurrent_creations_spend_exactly_the_balance,
    failure_refunds_once_even_when_processed_twice,
    cancel_and_retry_move_credits
);

pub async fn credits(app: &TestApp, tok: &str) -> Value {
    app.get("/api/users/credits").auth(tok).await.expect(200)["data"].clone()
}

/// `GET /api/users/credits/transactions?{query}` as `tok`.
pub fn transactions(app: &TestApp, tok: &str, query: &str) -> Call {
    app.get(format!("/api/users/credits/transactions?{query}"))
        .auth(tok)
}

pub fn failed() -> TaskChange {
    TaskChange {
        status: Some(TaskStatus::Failed),
        error: Some(TaskError {
            code: "providerError".into(),
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

async fn concurrent_creations_spend_exactly_the_balance(backend: Backend) {
    // 200 credits at 20 a task: exactly 10 of 200 concurrent creations may succeed.
    let app = TestApp::spawn_with(backend, |s| s.billing.signup_bonus_credits = 200).await;
    let tok = app.token("racer").await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let body = json!({"prompt": format!("race {i}")});
        let call = app.post_task(&tok, body);
        handles.push(tokio::spawn(call.send()));
    }
    let mut created = 0;
    let mut refused = 0;
    for h in handles {
        let Reply { status, body } = h.await.unwrap();
        match status {
            201 => created += 1,
            402 => {
                refused += 1;
                assert_eq!(body["error"]["code"], "insufficientCredits");
                let msg = body["error"]["message"].as_str().unwrap();
                assert!(msg.contains("required 20"), "{msg}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, refused), (10, 190));
    let c = credits(&app, &tok).await;
    assert_eq!(
        (c["credits"].as_i64(), c["totalSpent"].as_i64()),
        (Some(0), Some(200))
    );
    let list = app
        .get("/api/video/tasks?pageSize=100")
        .auth(&tok)
        .await
        .body;
    assert_eq!(list["data"]["total"], 10);
    assert_ledger_invariant(&app).await;
}

async fn failure_refunds_once_even_when_processed_twice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("unlucky").await;
    let task = app.create_task(&tok, "doomed").await;
    let id = task["videoId"].as_str().unwrap().to_string();
    assert_eq!(task["creditsCharged"], 20);
    assert_eq!(credits(&app, &tok).await["credits"], 80);
    // The same failure processed twice at once (two pollers, a webhook and a poll...).
    let twice = [0, 1].map(|_| {
        let (store, id) = (app.state.store.clone(), id.clone());
        tokio::spawn(async move { store.apply_change(&id, &failed()).await })
    });
    let mut applied = Vec::new();
    for h in twice {
        applied.extend(h.await.unwrap().unwrap());
    }
    assert_eq!(applied.len(), 1, "exactly one of them changed the task");
    let (task, event) = &applied[0];
    assert_eq!(task.credits_refunded, 20);
    assert_eq!(
        serde_json::to_value(&event.payload).unwrap()["creditsRefunded"],
        20,
        "taskFailed frame shows the refund"
    );
    assert!(app
        .state
        .store
        .apply_change(&id, &failed())
        .await
        .unwrap()
        .is_none());
    let rows = app.state.store.task_credit_transactions(&id).await.unwrap();
    let kinds: Vec<_> = rows
        .iter()
        .map(|r| (r.tx_type.as_str(), r.amount))
        .collect();
    assert_eq!(kinds, vec![("spent", -20), ("refunded", 20)]);
    assert_eq!(credits(&app, &tok).await["credits"], 100);
    let last = app.task_events(&tok, &id).await.pop().unwrap();
    assert_eq!(
        (
            last["type"].as_str(),
            last["payload"]["creditsRefunded"].as_i64()
        ),
        (Some("taskFailed"), Some(20))
    );
    assert_ledger_invariant(&app).await;
}

async fn cancel_and_retry_move_credits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("canceller").await;
    let id = app.create_task_id(&tok, "never mind").await;
    let v = app.cancel_task(&tok, &id).await.expect(200);
    assert_eq!(v["data"]["creditsRefunded"], 20);
    let ev = app
        .task_call(Method::GET, &tok, &id, "/events?sinceSeq=1")
        .await
        .body;
    assert_eq!(ev["data"]["events"][0]["payload"]["creditsRefunded"], 20);
    assert_eq!(credits(&app, &tok).await["credits"], 100);

    // A retry is a new task and is charged again.
    let id = app.create_task_id(&tok, "again").await;
    app.state.store.apply_change(&id, &failed()).await.unwrap();
    let retried = app.retry_task(&tok, &id).await.expect(201);
    assert_eq!(retried["data"]["creditsCharged"], 20);
    let c = credits(&app, &tok).await;
    assert_eq!(
        (c["credits"].as_i64(), c["totalSpent"].as_i64()),
        (Some(80), Some(20))
    );
    assert_ledger_invariant(&app).await;
}
