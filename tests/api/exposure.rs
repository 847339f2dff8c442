//! What development exposes and where: the simulator only in development with the simulator
//! provider (bounded ids and bodies), development only on loopback unless allowed, and
//! `dev-complete` only for local test payments.

use reqwest::Method;
use serde_json::json;
use taskhub::config::{Environment, Settings};
use taskhub::providers::simulator::{MAX_ID_BYTES, MAX_JSON_BODY, MOUNT_V1};
use taskhub::secret::Secret;
use taskhub::startup::Application;
use taskhub::store::NewPayment;

use crate::helpers::{test_settings, Backend, TestApp};

crate::backend_tests!(dev_complete_is_for_local_test_payments_only);

fn sim(path: &str) -> String {
    format!("{MOUNT_V1}/videos{path}")
}

async fn simulator_create(app: &TestApp) -> u16 {
    let body = json!({"prompt": "a fox", "seconds": 4});
    app.post(sim("")).json(body).await.status
}

#[tokio::test]
async fn the_simulator_is_mounted_only_in_development_with_its_provider() {
    let dev = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(simulator_create(&dev).await, 200);
    let prod = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.env = Environment::Production;
        s.jwt_secret = Secret::new("fake-production-secret-0123456789abcdefgh");
    })
    .await;
    assert_eq!(simulator_create(&prod).await, 404, "not in production");
    let openai = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.providers.provider = taskhub::providers::settings::ProviderKind::OpenAi
    })
    .await;
    assert_eq!(
        simulator_create(&openai).await,
        404,
        "not with another provider"
    );
}

#[tokio::test]
async fn simulator_ids_and_bodies_are_bounded() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let long = "video_sim_".to_string() + &"A".repeat(MAX_ID_BYTES);
    for method in [Method::GET, Method::DELETE] {
        let r = app.request(method.clone(), sim(&format!("/{long}"))).await;
        assert_eq!(
            (r.status, r.code()),
            (400, Some("invalid_id")),
            "{method}: {}",
            r.body
        );
    }
    app.get(sim(&format!("/{long}/content"))).await.expect(400);
    // A JSON create body over the cap is refused before it is parsed.
    let big = json!({"prompt": "x".repeat(MAX_JSON_BODY + 1)});
    app.post(sim("")).json(big).await.expect(413);
    // An oversized model (it would be carried in the id) is refused.
    app.post(sim(""))
        .json(json!({"prompt": "x", "model": "m".repeat(200)}))
        .await
        .expect(400);
    // Ids the simulator issues are well within the cap and still work after the checks.
    let v = app
        .post(sim(""))
        .json(json!({"prompt": "x"}))
        .await
        .expect(200);
    let id = v["id"].as_str().unwrap();
    assert!(id.len() <= MAX_ID_BYTES);
    app.delete(sim(&format!("/{id}"))).await.expect(200);
    app.get(sim(&format!("/{id}")))
        .await
        .expect_because(404, "deleted");
}

#[tokio::test]
async fn development_refuses_a_public_address_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let mut s: Settings = test_settings(Backend::Sqlite, dir.path()).await;
        s.addr = addr.parse().unwrap();
        let err = match Application::build(s).await {
            Ok(_) => panic!("development on {addr} must not start"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("TASKHUB_ALLOW_PUBLIC_DEV"), "{err}");
    }
    let public = |f: fn(&mut Settings)| {
        let mut s = Settings {
            addr: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        f(&mut s);
        s.check_exposure()
    };
    assert!(public(|_| {}).is_err());
    assert!(public(|s| s.allow_public_dev = true).is_ok());
    assert!(public(|s| s.env = Environment::Production).is_ok());
    assert!(public(|s| s.addr = "127.0.0.2:8080".parse().unwrap()).is_ok());
    assert!(public(|s| s.addr = "[::1]:8080".parse().unwrap()).is_ok());
    assert!(public(|s| s.addr = "192.168.1.5:8080".parse().unwrap()).is_err());
}

async fn balance(app: &TestApp, tok: &str) -> i64 {
    crate::billing::credits(app, tok).await["credits"]
        .as_i64()
        .unwrap()
}

async fn dev_complete_is_for_local_test_payments_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tok = app.token("payer").await;
    let user_id = app.user_id(&tok).await;
    let before = balance(&app, &tok).await;
    // A payment that goes through Stripe (as `create` stores it before opening Checkout).
    let stripe = app
        .state
        .store
        .insert_payment(NewPayment {
            user_id: &user_id,
            package: "trial",
            credits: 100,
            amount_minor: 100,
            currency: "cny",
            provider: "stripe",
        })
        .await
        .unwrap();
    let path = format!("/api/payments/{}/dev-complete", stripe.id);
    app.post(&path)
        .auth(&tok)
        .await
        .expect_error(403, "notLocalTestPayment");
    assert_eq!(
        app.state
            .store
            .get_payment(&stripe.id)
            .await
            .unwrap()
            .status,
        "pending"
    );
    assert_eq!(balance(&app, &tok).await, before, "nothing granted");

    // A local test payment still completes.
    app.buy_local_test_credits(&tok, "trial").await.expect(200);
    assert!(balance(&app, &tok).await > before);
}
