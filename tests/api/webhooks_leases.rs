//! Webhook leases across nodes: two nodes on one database never deliver the same message at
//! once (every message arrives once), and a message claimed by a node that died is
//! delivered by another once the lease expires.

use std::sync::atomic::Ordering;
use std::time::Duration;

use taskhub::domain::time::now_ms;
use taskhub::tasks::webhook::WebhookWorker;

use crate::helpers::{test_settings, Backend, TestApp};
use crate::webhooks::{finished_task, header, manual, Receiver};

crate::backend_tests!(
    two_nodes_never_deliver_one_message_at_once,
    a_dead_nodes_message_is_delivered_by_another
);

/// A second node on `app`'s database.
async fn second_node(backend: Backend, app: &TestApp) -> TestApp {
    let mut s = test_settings(backend, app.data_path()).await;
    s.database_url = app.state.settings.database_url.clone();
    manual(&mut s);
    s.webhooks.webhook_concurrency = 3;
    TestApp::start(s, app.data_dir.clone()).await
}

async fn two_nodes_never_deliver_one_message_at_once(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[], Duration::from_millis(150)).await;
    let a = TestApp::spawn_with(backend, |s| {
        manual(s);
        s.webhooks.webhook_concurrency = 3;
    })
    .await;
    let b = second_node(backend, &a).await;
    let tok = a.token("many").await;
    for _ in 0..8 {
        finished_task(&a, &tok, &url).await;
    }
    let (wa, wb) = (
        WebhookWorker::new(a.state.clone()).with_node_id("node-a"),
        WebhookWorker::new(b.state.clone()).with_node_id("node-b"),
    );
    let (mut by_a, mut by_b) = (0, 0);
    for _ in 0..10 {
        let (x, y) = tokio::join!(wa.deliver_once(), wb.deliver_once());
        by_a += x.unwrap().delivered;
        by_b += y.unwrap().delivered;
        if by_a + by_b == 8 {
            break;
        }
    }
    assert_eq!(by_a + by_b, 8);
    assert!(
        by_a > 0 && by_b > 0,
        "both nodes delivered: {by_a} + {by_b}"
    );
    let got = rx.received();
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| header(&r.headers, "webhook-id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (8, 8), "each message arrived once");
    assert_eq!(rx.max_same.load(Ordering::SeqCst), 1, "never twice at once");
}

async fn a_dead_nodes_message_is_delivered_by_another(backend: Backend) {
    let (url, rx) = Receiver::spawn(&[], Duration::ZERO).await;
    let app = TestApp::spawn_with(backend, manual).await;
    let tok = app.token("orphan").await;
    finished_task(&app, &tok, &url).await;
    // A node claims the message and dies before sending it.
    let now = now_ms();
    let store = &app.state.store;
    let claimed = store
        .claim_webhook_deliveries("dead-node", now, now + 300, 10)
        .await;
    assert_eq!(claimed.unwrap().len(), 1);
    let other = WebhookWorker::new(app.state.clone()).with_node_id("node-b");
    assert_eq!(
        other.deliver_once().await.unwrap().claimed,
        0,
        "the lease hides it"
    );
    // Wait out the lease (time passing, not a server).
    tokio::time::sleep(Duration::from_millis(350)).await;
    let b = other.deliver_once().await.unwrap();
    assert_eq!((b.claimed, b.delivered), (1, 1));
    assert_eq!(rx.received().len(), 1);
    // A node that stops hands its leases back at once.
    finished_task(&app, &tok, &url).await;
    let now = now_ms();
    let held = store
        .claim_webhook_deliveries("stopping", now, now + 600_000, 10)
        .await;
    assert_eq!(held.unwrap().len(), 1);
    assert_eq!(store.release_webhook_leases("stopping").await.unwrap(), 1);
    assert_eq!(other.deliver_once().await.unwrap().delivered, 1);
    assert_eq!(rx.received().len(), 2);
}
