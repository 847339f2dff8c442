//! Leases: two nodes on one database never drive the same task at once, concurrent claims
//! are disjoint, a dead node's leases are taken over once they expire, and a node that stops
//! hands its leases back.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taskhub::domain::time::now_ms;
use taskhub::providers::Providers;
use taskhub::store::NewTask;
use taskhub::tasks::poller::Poller;

use crate::helpers::{Backend, TestApp};
use crate::scripted::Scripted;

crate::backend_tests!(
    two_pollers_never_drive_one_task_at_once,
    concurrent_claims_are_disjoint,
    a_dead_nodes_leases_are_taken_over,
    released_leases_are_taken_at_once,
    a_lost_lease_cannot_be_used
);

const PROVIDERS: &[&str] = &["simulator"];

fn names() -> Vec<String> {
    PROVIDERS.iter().map(|s| s.to_string()).collect()
}

/// Creates `n` tasks for a fresh user straight in the store; returns their ids.
async fn tasks(app: &TestApp, user: &str, n: usize) -> Vec<String> {
    user_tasks(app, user, n).await.1
}

/// Like `tasks`, also returning the user's access token.
async fn user_tasks(app: &TestApp, user: &str, n: usize) -> (String, Vec<String>) {
    let reg = app.register(user).await;
    let token = reg["accessToken"].as_str().unwrap().to_string();
    let user_id = reg["user"]["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..n {
        let new = NewTask {
            user_id: user_id.clone(),
            provider: "simulator".into(),
            kind: "textToVideo".into(),
            model: "sora-2".into(),
            prompt: format!("{user}-{i}"),
            seconds: 4,
            size: "720x1280".into(),
            quality: "standard".into(),
            reference_image_url: None,
            input_image: None,
            webhook_url: None,
            retry_of: None,
            price: 0,
        };
        ids.push(app.state.store.create_task(new).await.unwrap().0.id);
    }
    (token, ids)
}

/// A second node on the same database (its own pool, listener and poller).
async fn second_node(a: &TestApp) -> TestApp {
    TestApp::start((*a.state.settings).clone(), a.data_dir.clone()).await
}

async fn open_tasks(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NOT NULL")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

async fn two_pollers_never_drive_one_task_at_once(backend: Backend) {
    let a = TestApp::spawn_with(backend, |s| {
        s.poller.poll_interval_ms = 0;
        s.poller.poller_batch = 4;
        s.poller.poller_concurrency = 4;
        s.media.media_copy = false;
    })
    .await;
    let b = second_node(&a).await;
    let (token, ids) = user_tasks(&a, "pair", 24).await;
    // Every call takes a while, so a task driven by both nodes at once would be caught.
    let provider = Scripted::auto(3, Duration::from_millis(15));
    let providers = Providers::default().with("simulator", provider.clone());
    let pa = Poller::new(a.state.clone())
        .with_node_id("node-a")
        .with_providers(providers.clone());
    let pb = Poller::new(b.state.clone())
        .with_node_id("node-b")
        .with_providers(providers);
    let drive = |p: Poller, app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            let mut claimed = 0;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                claimed += p.poll_once().await.unwrap().claimed;
                let (open,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE next_poll_at IS NOT NULL")
                        .fetch_one(store.pool())
                        .await
                        .unwrap();
                if open == 0 {
                    return claimed;
                }
                assert!(Instant::now() < deadline, "tasks never finished");
            }
        }
    };
    let (ca, cb) = tokio::join!(drive(pa, &a), drive(pb, &b));
    assert_eq!(
        provider.overlaps.load(Ordering::SeqCst),
        0,
        "no task was driven by two nodes at once"
    );
    assert_eq!(
        provider.creates.load(Ordering::SeqCst),
        24,
        "every task was submitted exactly once"
    );
    assert!(ca > 0 && cb > 0, "both nodes shared the work: {ca} / {cb}");
    for id in &ids {
        let t = a.state.store.get_task(id).await.unwrap();
        assert_eq!(
            (t.status.as_str(), t.lease_owner.as_deref()),
            ("completed", None)
        );
        // created, submitted, 3 progress steps, completed: one event each, no duplicates.
        let evs = a.state.store.events_since(id, 0, 100).await.unwrap();
        let seqs: Vec<i64> = evs.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "{id}");
    }
    // Copying is off here: the content route hands out the provider's URL and says so.
    let c = b.task_content(&token, &ids[0]).await.expect(200);
    assert_eq!(c["data"]["copied"], false);
    let want = "https://provider.example/ext-pair-0/video".to_string();
    assert_eq!(c["data"]["url"].as_str(), Some(want.as_str()));
}

async fn concurrent_claims_are_disjoint(backend: Backend) {
    let a = TestApp::spawn(backend).await;
    let b = second_node(&a).await;
    let ids = tasks(&a, "claims", 30).await;
    let names = names();
    for round in 0..3 {
        let now = now_ms();
        let until = now + 60_000;
        let (ra, rb) = tokio::join!(
            a.state
                .store
                .claim_due_tasks("node-a", now, until, 20, &names),
            b.state
                .store
                .claim_due_tasks("node-b", now, until, 20, &names),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let sa: HashSet<_> = ra.iter().map(|t| t.id.clone()).collect();
        let sb: HashSet<_> = rb.iter().map(|t| t.id.clone()).collect();
        assert!(
            sa.is_disjoint(&sb),
            "round {round}: a task was claimed twice"
        );
        assert_eq!(
            sa.len() + sb.len(),
            ids.len(),
            "round {round}: every due task was claimed"
        );
        assert!(ra
            .iter()
            .all(|t| t.lease_owner.as_deref() == Some("node-a")));
        a.state.store.release_leases("node-a").await.unwrap();
        a.state.store.release_leases("node-b").await.unwrap();
    }
}

async fn a_dead_nodes_leases_are_taken_over(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.poller.poll_interval_ms = 0).await;
    let ids = tasks(&app, "orphans", 3).await;
    // A node claims the tasks and dies without releasing them.
    let lease_until = now_ms() + 1_500;
    let dead = app
        .state
        .store
        .claim_due_tasks("dead-node", now_ms(), lease_until, 10, &names())
        .await
        .unwrap();
    assert_eq!(dead.len(), 3);
    let provider = Scripted::auto(0, Duration::ZERO);
    let heir = Poller::new(app.state.clone())
        .with_node_id("heir")
        .with_providers(Providers::default().with("simulator", provider.clone()));
    assert_eq!(
        heir.poll_once().await.unwrap().claimed,
        0,
        "live leases are respected"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let claimed = loop {
        let out = heir.poll_once().await.unwrap();
        if out.claimed > 0 {
            break out.claimed;
        }
        assert!(
            Instant::now() < deadline,
            "the leases were never taken over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(now_ms() > lease_until, "taken only after they expired");
    assert_eq!(claimed, 3);
    while open_tasks(&app).await > 0 {
        heir.poll_once().await.unwrap();
        assert!(Instant::now() < deadline, "the orphans never finished");
    }
    for id in ids {
        assert_eq!(
            app.state.store.get_task(&id).await.unwrap().status.as_str(),
            "completed"
        );
    }
}

async fn released_leases_are_taken_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    tasks(&app, "handover", 2).await;
    let hour = now_ms() + 3_600_000;
    let names = names();
    let held = app
        .state
        .store
        .claim_due_tasks("leaving", now_ms(), hour, 10, &names)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    let other = || {
        app.state
            .store
            .claim_due_tasks("staying", now_ms(), hour, 10, &names)
    };
    assert!(other().await.unwrap().is_empty());
    assert_eq!(app.state.store.release_leases("leaving").await.unwrap(), 2);
    assert_eq!(
        other().await.unwrap().len(),
        2,
        "released tasks are claimable at once"
    );
    let nothing = app
        .state
        .store
        .claim_due_tasks("x", now_ms(), hour, 10, &["openai".to_string()])
        .await
        .unwrap();
    assert!(
        nothing.is_empty(),
        "a node only claims tasks of providers it has"
    );
}

async fn a_lost_lease_cannot_be_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = tasks(&app, "lost", 1).await.remove(0);
    let store = &app.state.store;
    let names = names();
    let now = now_ms();
    assert_eq!(
        store
            .claim_due_tasks("slow", now, now - 1, 1, &names)
            .await
            .unwrap()
            .len(),
        1
    );
    // The slow node's lease ran out and another node took the task.
    assert_eq!(
        store
            .claim_due_tasks("fast", now, now + 60_000, 1, &names)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !store.extend_lease(&id, "slow", now + 60_000).await.unwrap(),
        "cannot extend"
    );
    assert!(
        !store.release_task(&id, "slow", now, None).await.unwrap(),
        "cannot reschedule"
    );
    let t = store.get_task(&id).await.unwrap();
    assert_eq!(
        (t.lease_owner.as_deref(), t.lease_until),
        (Some("fast"), Some(now + 60_000))
    );
    assert!(store.extend_lease(&id, "fast", now + 90_000).await.unwrap());
    assert!(store
        .release_task(&id, "fast", now + 1_000, Some(now + 3_600_000))
        .await
        .unwrap());
    let t = store.get_task(&id).await.unwrap();
    assert_eq!(
        (t.lease_owner, t.next_poll_at, t.poll_attempts),
        (None, Some(now + 1_000), 1)
    );
    assert_eq!(t.provider_expires_at, Some(now + 3_600_000));
}

/// A node that stops while a step hangs at the provider hands the task back on its way out
/// (after a short grace), instead of leaving it leased until the lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_releases_its_leases() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ids = tasks(&app, "stopper", 1).await;
    let hanging = Scripted::auto(5, Duration::from_secs(60));
    let mut state = app.state.clone();
    state.shutdown = tokio_util::sync::CancellationToken::new();
    let stop = state.shutdown.clone();
    let poller = Poller::new(state)
        .with_node_id("stopping")
        .with_providers(Providers::default().with("simulator", hanging));
    let running = tokio::spawn(poller.run());
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .state
        .store
        .get_task(&ids[0])
        .await
        .unwrap()
        .lease_owner
        .is_none()
    {
        assert!(Instant::now() < deadline, "never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the poller stops")
        .unwrap();
    let t = app.state.store.get_task(&ids[0]).await.unwrap();
    assert_eq!(
        (t.lease_owner, t.lease_until),
        (None, None),
        "lease handed back"
    );
    assert!(
        t.next_poll_at.is_some(),
        "still open, for another node to take"
    );
}
