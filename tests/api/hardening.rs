//! The smaller holes: unknown fields on money-costing routes, payment return origins,
//! media URLs signed at read time with an expiry, `nosniff`, and pruning of dead refresh
//! tokens and old Stripe event ids.

use serde_json::json;
use taskhub::domain::lifecycle::{TaskChange, TaskResult, TaskStatus};
use taskhub::domain::time::now_ms;
use taskhub::media::MediaUrls;

use crate::billing::credits;
use crate::helpers::{Backend, TestApp};
use crate::payments::with_stripe;
use crate::stripe_mock::StripeMock;
use crate::ws_client::{drive, Ws};

crate::backend_tests!(
    unknown_fields_on_money_routes_are_refused_and_nothing_is_charged,
    payment_return_url_must_be_on_an_allowed_origin,
    media_urls_are_signed_when_read_and_expire,
    dead_refresh_tokens_and_old_stripe_events_are_pruned,
);

const DAY_MS: i64 = 24 * 3600 * 1000;

async fn unknown_fields_on_money_routes_are_refused_and_nothing_is_charged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("typo").await;
    let before = credits(&app, &tok).await["credits"].as_i64().unwrap();
    // snake_case instead of camelCase: silently a text task before; now a 422 naming it.
    let body = json!({"prompt": "a fox", "seconds": 4, "reference_image_url": "https://img.example/f.png"});
    let v = app
        .post_task(&tok, body)
        .await
        .expect_invalid("reference_image_url");
    assert_eq!(v["error"]["code"], "validationFailed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reference_image_url"));
    // Multipart: an unknown part is refused the same way.
    let part = reqwest::multipart::Part::bytes(vec![0x89, b'P', b'N', b'G'])
        .file_name("i.png")
        .mime_str("image/png")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("prompt", "a fox")
        .text("qualty", "hd")
        .part("image", part);
    app.post("/api/video/tasks")
        .auth(&tok)
        .multipart(form)
        .await
        .expect_invalid("qualty");
    // Payments: an unknown field is named too.
    let body = json!({"package": "trial", "returnUrl": "http://localhost/x", "localTest": true, "credits": 1000000});
    app.post_payment(&tok, body).await.expect_invalid("credits");
    // Nothing was created or charged.
    let list = app.get("/api/video/tasks").auth(&tok).await.body;
    assert_eq!(list["data"]["total"], 0, "{list}");
    assert_eq!(credits(&app, &tok).await["credits"].as_i64(), Some(before));
    // The documented alias `duration` still works.
    let body = json!({"prompt": "a fox", "duration": 4});
    let v = app.post_task(&tok, body).await.expect(201);
    // Retry repeats the task as it was: a body with fields is refused.
    let id = v["data"]["videoId"].as_str().unwrap().to_string();
    let failed = crate::billing::failed();
    drive(&app.state, &id, failed).await;
    app.retry_task(&tok, &id)
        .json(json!({"quality": "hd"}))
        .await
        .expect_invalid("quality");
    app.retry_task(&tok, &id).await.expect(201);
}

async fn payment_return_url_must_be_on_an_allowed_origin(backend: Backend) {
    let mock = StripeMock::start().await;
    let app = TestApp::spawn_with(backend, with_stripe(&mock)).await;
    let tok = app.token("redirected").await;
    for bad in [
        "https://evil.example/phish",
        "https://app.example.evil.example/",
        "//evil.example/",
    ] {
        let body = json!({"package": "trial", "returnUrl": bad});
        let r = app.post_payment(&tok, body).await;
        assert_eq!(
            (r.status, r.code()),
            (422, Some("invalidReturnUrl")),
            "{bad}: {}",
            r.body
        );
    }
    assert!(mock.taken().is_empty(), "Stripe was never called");
    // A path is resolved against the first allowed origin.
    let body = json!({"package": "trial", "returnUrl": "/billing?tab=2"});
    app.post_payment(&tok, body).await.expect(201);
    let reqs = mock.taken();
    assert_eq!(reqs.len(), 1);
    let success = reqs[0].field("success_url").unwrap();
    assert!(
        success.starts_with("https://app.example/billing?tab=2&paymentId="),
        "{success}"
    );
}

/// Completes `id` with media keys as the poller now stores them.
fn completed_with(video: &str, thumb: Option<&str>) -> TaskChange {
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

async fn media_urls_are_signed_when_read_and_expire(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.media.media_url_ttl_secs = 600).await;
    let tok = app.token("viewer").await;
    let id = app.create_task_id(&tok, "a fox").await;
    let file = format!("{id}.mp4");
    let media_dir = app.data_path().join("media");
    std::fs::create_dir_all(&media_dir).unwrap();
    std::fs::write(media_dir.join(&file), b"fake video bytes").unwrap();
    drive(&app.state, &id, completed_with(&file, None)).await;

    // The database holds the key; every read hands out a signed, expiring URL.
    let stored = app.state.store.get_task(&id).await.unwrap();
    assert_eq!(stored.video_url.as_deref(), Some(file.as_str()));
    let v = app.get_task(&tok, &id).await.body;
    let url = v["data"]["result"]["videoUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("/media/{file}?exp=")), "{url}");
    let exp: i64 = url
        .split("exp=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let now = now_ms() / 1000;
    assert!(exp > now + 300 && exp <= now + 600, "exp {exp} now {now}");
    let resp = app.get(&url).response().await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().await.unwrap(), &b"fake video bytes"[..]);

    // The event log and the WS snapshot are signed too.
    let last = app.task_events(&tok, &id).await.pop().unwrap();
    let logged = last["payload"]["result"]["videoUrl"].as_str().unwrap();
    app.get(logged).await.expect_because(200, logged);
    let mut ws = Ws::authed(&app, &tok).await;
    let sub = ws.subscribe(&id, None).await;
    let shown = sub["task"]["result"]["videoUrl"].as_str().unwrap();
    app.get(shown).await.expect_because(200, shown);

    // An expired URL: 403 mediaUrlExpired; a forged one: 403 invalidSignature.
    let urls = MediaUrls::new(&app.state.settings.jwt_secret, &app.state.settings.media);
    let old = urls.url_at(&file, now - 700);
    app.get(&old).await.expect_error(403, "mediaUrlExpired");
    // A genuine signature with its expiry moved later is a forgery.
    let moved = url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 100_000));
    let r = app.get(&moved).await;
    assert_eq!(
        (r.status, r.code()),
        (403, Some("invalidSignature")),
        "{moved}"
    );
    app.get(format!("/media/{file}?sig=00")).await.expect(403);

    // A row written by an older version (a full URL without expiry) keeps working.
    let id2 = app.create_task_id(&tok, "an old one").await;
    let file2 = format!("{id2}.mp4");
    std::fs::write(media_dir.join(&file2), b"older bytes").unwrap();
    let legacy = format!("/media/{file2}?sig=00112233445566778899aabbccddeeff");
    drive(&app.state, &id2, completed_with(&legacy, None)).await;
    let v = app.task_content(&tok, &id2).await.body;
    assert_eq!(v["data"]["copied"], true, "{v}");
    let fresh = v["data"]["url"].as_str().unwrap();
    assert!(
        fresh.starts_with(&format!("/media/{file2}?exp=")),
        "{fresh}"
    );
    let resp = app.get(fresh).response().await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap(), &b"older bytes"[..]);
    // Every API response says nosniff as well.
    let resp = app.get("/api/video/models").response().await;
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

async fn dead_refresh_tokens_and_old_stripe_events_are_pruned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let user = app.register("pruned").await;
    let user_id = user["user"]["id"].as_str().unwrap().to_string();
    let live = count(&app, "refresh_tokens").await;
    assert!(live >= 1);
    // Expired 40 and 10 days ago; one revoked now; one spent but live (reuse detection).
    store
        .insert_refresh_token(&user_id, "fam-a", "hash-expired-40", -40 * DAY_MS)
        .await
        .unwrap();
    store
        .insert_refresh_token(&user_id, "fam-b", "hash-expired-10", -10 * DAY_MS)
        .await
        .unwrap();
    store
        .insert_refresh_token(&user_id, "fam-c", "hash-revoked", 90 * DAY_MS)
        .await
        .unwrap();
    assert!(store.revoke_refresh_token("hash-revoked").await.unwrap());
    store
        .insert_refresh_token(&user_id, "fam-d", "hash-spent", 90 * DAY_MS)
        .await
        .unwrap();
    store
        .rotate_refresh_token("hash-spent", "hash-spent-next", 90 * DAY_MS)
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(store
        .claim_stripe_event(&mut tx, "evt_old", "checkout.session.completed")
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let before = count(&app, "refresh_tokens").await;
    assert_eq!(before, live + 5);

    let b = &app.state.settings.billing;
    let now = now_ms();
    let (tokens, events) = taskhub::housekeeping::sweep(store, b, now).await.unwrap();
    assert_eq!(
        (tokens, events),
        (1, 0),
        "only the token expired 40 days ago"
    );
    // 31 days on: the one expired 10 days ago is now 41 days old, the revoked one 31.
    let later = now + 31 * DAY_MS;
    let (tokens, events) = taskhub::housekeeping::sweep(store, b, later).await.unwrap();
    assert_eq!((tokens, events), (2, 1));
    assert_eq!(
        count(&app, "refresh_tokens").await,
        live + 2,
        "live and spent-but-live stay"
    );
    // Reuse detection still works for the spent token that was kept.
    let reused = store
        .rotate_refresh_token("hash-spent", "hash-x", DAY_MS)
        .await
        .unwrap();
    assert_eq!(reused, taskhub::store::RefreshOutcome::Reused);
    // A pruned event id can be claimed again (it was really deleted).
    let mut tx = store.begin().await.unwrap();
    assert!(store
        .claim_stripe_event(&mut tx, "evt_old", "x")
        .await
        .unwrap());
    tx.rollback().await.unwrap();
}
