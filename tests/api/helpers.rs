//! Test harness: spawn the real application on `127.0.0.1:0` and talk HTTP to it.
//!
//! `Backend::Sqlite` uses a fresh temp dir. `Backend::Postgres` creates a fresh database on
//! the server named by `TEST_DATABASE_URL` (PostgreSQL tests are only compiled into the run
//! when that is set: see `backend_tests!` and `scripts/test.sh`).

use std::sync::Arc;

use reqwest::Client;
use serde_json::{json, Value};
use taskhub::config::Settings;
use taskhub::secret::Secret;
use taskhub::startup::Application;
use taskhub::state::AppState;
use tokio_util::sync::CancellationToken;

mod request;
mod tasks;
pub use request::{Call, Reply};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: String,
    pub client: Client,
    pub state: AppState,
    /// Kept alive for the app's lifetime (removed on drop); tests read files under it.
    pub data_dir: Arc<tempfile::TempDir>,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A PostgreSQL URL for a brand-new, empty database.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("TEST_DATABASE_URL")
        .expect("PostgreSQL tests need TEST_DATABASE_URL (scripts/test.sh sets it)");
    let name = format!("th_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database");
    format!("{prefix}/{name}")
}

/// Settings for a test app on `backend`, with a fresh data dir.
pub async fn test_settings(backend: Backend, dir: &std::path::Path) -> Settings {
    let mut s = Settings {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        jwt_secret: Secret::new("fake-test-jwt-secret-0123456789abcdef"),
        db_max_connections: Some(5),
        ..Settings::default()
    };
    // Tasks stay where tests put them unless a test turns the poller on (or calls
    // `Poller::poll_once` itself).
    s.poller.enabled = false;
    // Tests sign up and create many tasks from 127.0.0.1: production rate limits would
    // refuse them. Only tests/api/rate_limits.rs sets real figures.
    s.http = s.http.relaxed();
    if backend == Backend::Postgres {
        s.database_url = Some(fresh_postgres_url().await);
    }
    s
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `tweak`.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(backend, dir.path()).await;
        tweak(&mut settings);
        Self::start(settings, Arc::new(dir)).await
    }

    pub async fn start(settings: Settings, data_dir: Arc<tempfile::TempDir>) -> TestApp {
        let app = Application::build(settings).await.expect("build app");
        let addr = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
        TestApp {
            addr,
            client: Client::new(),
            state,
            data_dir,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    /// Buys `package` as a local test payment (development) and completes it with
    /// `dev-complete`; returns the completion's reply.
    pub async fn buy_local_test_credits(&self, token: &str, package: &str) -> Reply {
        let body =
            json!({"package": package, "returnUrl": "http://localhost/x", "localTest": true});
        let p = self.post_payment(token, body).await.expect(201);
        let pid = p["data"]["paymentId"].as_str().expect("paymentId");
        let path = format!("/api/payments/{pid}/dev-complete");
        self.post(path).auth(token).await
    }

    /// Registers a user and returns the token response's `data`.
    pub async fn register(&self, name: &str) -> Value {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "fake-password-123"});
        let reply = self.post("/api/auth/register").json(body).await;
        reply.expect_because(201, format!("register {name}"))["data"].clone()
    }

    /// The id of the user `token` belongs to (from `/api/auth/me`).
    pub async fn user_id(&self, token: &str) -> String {
        let me = self.get("/api/auth/me").auth(token).await.body;
        me["data"]["id"].as_str().expect("user id").to_string()
    }

    /// Registers `name`, makes them an admin and returns their access token.
    pub async fn admin_token(&self, name: &str) -> String {
        let token = self.token(name).await;
        let email = format!("{name}@example.com");
        self.state
            .store
            .set_user_role(&email, "admin")
            .await
            .unwrap();
        token
    }

    /// Registers a user and returns an access token.
    pub async fn token(&self, name: &str) -> String {
        self.register(name).await["accessToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// GETs `path` without auth and returns the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.get(path).response().await;
        resp.text().await.expect("body")
    }

    /// `POST /api/payments/stripe/create` with `body`, as `token`.
    pub fn post_payment(&self, token: &str, body: Value) -> Call {
        self.post("/api/payments/stripe/create")
            .auth(token)
            .json(body)
    }
}

/// Defines each listed `async fn name(backend: Backend)` once per backend, as
/// `sqlite::name` and `postgres::name`. `scripts/test.sh` skips the `postgres::` ones (and
/// says so) when PostgreSQL is not reachable; CI requires them.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

impl TestApp {
    /// The app's data dir (SQLite file, uploads, media).
    pub fn data_path(&self) -> &std::path::Path {
        self.data_dir.path()
    }
}

/// An error body without its per-request `error.requestId`, for comparing two answers.
pub fn without_request_id(mut v: Value) -> Value {
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("requestId");
    }
    if let Some(e) = v.as_object_mut() {
        e.remove("requestId");
    }
    v
}
