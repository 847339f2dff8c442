//! Test harness: spawn the real application on `127.0.0.1:0` and talk HTTP to it.
//!
//! `Backend::Sqlite` uses a fresh temp dir. `Backend::Postgres` creates a fresh database on
//! the server named by `TEST_DATABASE_URL` (PostgreSQL tests are only compiled into the run
//! when that is set: see `backend_tests!` and `scripts/test.sh`).

use std::sync::Arc;

use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use taskhub::config::Settings;
use taskhub::secret::Secret;
use taskhub::startup::Application;
use taskhub::state::AppState;
use tokio_util::sync::CancellationToken;

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
        db_max_connections: 5,
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

    /// Sends `body` as JSON (when given) with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// Like `call`, returning the status and the parsed JSON body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let resp = self.call(method, path, token, body).await;
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// Buys `package` as a local test payment (development) and completes it with
    /// `dev-complete`; returns the completion's status and body.
    pub async fn buy_local_test_credits(&self, token: &str, package: &str) -> (u16, Value) {
        let body =
            json!({"package": package, "returnUrl": "http://localhost/x", "localTest": true});
        let (s, p) = self
            .json(
                Method::POST,
                "/api/payments/stripe/create",
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        let pid = p["data"]["paymentId"].as_str().expect("paymentId");
        let path = format!("/api/payments/{pid}/dev-complete");
        self.json(Method::POST, &path, Some(token), None).await
    }

    /// Registers a user and returns the token response's `data`.
    pub async fn register(&self, name: &str) -> Value {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "fake-password-123"});
        let (status, v) = self
            .json(Method::POST, "/api/auth/register", None, Some(body))
            .await;
        assert_eq!(status, 201, "register {name}: {v}");
        v["data"].clone()
    }

    /// The id of the user `token` belongs to (from `/api/auth/me`).
    pub async fn user_id(&self, token: &str) -> String {
        let (_, me) = self
            .json(Method::GET, "/api/auth/me", Some(token), None)
            .await;
        me["data"]["id"].as_str().expect("user id").to_string()
    }

    /// Registers a user and returns an access token.
    pub async fn token(&self, name: &str) -> String {
        self.register(name).await["accessToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Posts an image-to-video task as multipart: `prompt` and an `image` part of `mime`.
    pub async fn post_image_task(
        &self,
        token: &str,
        prompt: &str,
        image: Vec<u8>,
        mime: &str,
    ) -> Response {
        let part = reqwest::multipart::Part::bytes(image)
            .file_name("image")
            .mime_str(mime)
            .expect("mime");
        let form = reqwest::multipart::Form::new()
            .text("prompt", prompt.to_string())
            .text("seconds", "4")
            .part("image", part);
        self.client
            .post(self.url("/api/video/tasks"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    /// Creates a text-to-video task and returns its `videoId`.
    pub async fn create_task_id(&self, token: &str, prompt: &str) -> String {
        self.create_task(token, prompt).await["videoId"]
            .as_str()
            .expect("videoId")
            .to_string()
    }

    /// GETs `path` without auth and returns the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        resp.text().await.expect("body")
    }

    /// Creates a text-to-video task and returns its JSON.
    pub async fn create_task(&self, token: &str, prompt: &str) -> Value {
        let body = json!({"prompt": prompt, "model": "sora-2", "seconds": 4, "size": "720x1280"});
        let (status, v) = self
            .json(Method::POST, "/api/video/tasks", Some(token), Some(body))
            .await;
        assert_eq!(status, 201, "create task: {v}");
        v["data"].clone()
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
