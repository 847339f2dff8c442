//! REST calls for the client: the stored login's access token (refreshed from the refresh
//! token when it is about to expire, or when the server says 401 once), and the envelope
//! `{success, data}` / `{success: false, error}` turned into data or a [`CliError`] whose
//! exit code says what went wrong.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use super::credentials::{self, Login};
use super::{exit, CliError};

/// An access token this close to expiry is refreshed first.
const REFRESH_MARGIN_SECS: i64 = 60;

pub struct Api {
    pub server: String,
    http: reqwest::Client,
    login: Option<Login>,
}

impl Api {
    /// A client for `server` (trailing slashes dropped) with its stored login, if any.
    pub fn new(server: &str) -> Result<Self, CliError> {
        let server = server.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| CliError::unavailable(format!("HTTP client: {e}")))?;
        let login = credentials::load(&server)?;
        Ok(Self {
            server,
            http,
            login,
        })
    }

    /// The WebSocket URL of the server.
    pub fn ws_url(&self) -> String {
        let base = if let Some(rest) = self.server.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.server.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.server.clone()
        };
        format!("{base}/ws")
    }

    /// A server-relative URL made absolute.
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.server)
        } else {
            url.to_string()
        }
    }

    /// Logs in (or registers, with `username`) and stores the login.
    pub async fn login(
        &mut self,
        email: &str,
        password: &str,
        register: Option<&str>,
    ) -> Result<Value, CliError> {
        let (path, body) = match register {
            Some(username) => (
                "/api/auth/register",
                json!({"username": username, "email": email, "password": password}),
            ),
            None => (
                "/api/auth/login",
                json!({"login": email, "password": password}),
            ),
        };
        let req = self.http.post(self.url(path)).json(&body);
        // 401 (bad password) is AUTH; a refused registration (422, 409) is REFUSED.
        let data = envelope(send(req).await?, exit::REFUSED).await?;
        self.store_tokens(&data)?;
        Ok(data)
    }

    /// A usable access token: the cached one, or a fresh one from the refresh token.
    pub async fn access_token(&mut self, force_refresh: bool) -> Result<String, CliError> {
        let Some(login) = self.login.as_ref() else {
            return Err(CliError::new(
                exit::AUTH,
                format!("not logged in to {}: run `taskhub login`", self.server),
            ));
        };
        let now = chrono::Utc::now().timestamp();
        if !force_refresh {
            if let (Some(token), Some(exp)) = (&login.access_token, login.access_expires_at) {
                if exp - REFRESH_MARGIN_SECS > now {
                    return Ok(token.clone());
                }
            }
        }
        let body = json!({ "refreshToken": login.refresh_token });
        let req = self.http.post(self.url("/api/auth/refresh")).json(&body);
        let data = envelope(send(req).await?, exit::AUTH)
            .await
            .map_err(|e| match e.code {
                exit::AUTH => CliError::new(
                    exit::AUTH,
                    format!("{}; run `taskhub login` again", e.message),
                ),
                _ => e,
            })?;
        self.store_tokens(&data)
    }

    fn store_tokens(&mut self, data: &Value) -> Result<String, CliError> {
        let field = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(access), Some(refresh)) = (field("accessToken"), field("refreshToken")) else {
            return Err(CliError::unavailable(
                "the server's token answer has no tokens",
            ));
        };
        let expires_in = data.get("expiresIn").and_then(Value::as_i64).unwrap_or(0);
        let user = data
            .pointer("/user/email")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.login.as_ref().map(|l| l.user.clone()))
            .unwrap_or_default();
        let login = Login {
            user,
            refresh_token: refresh,
            access_token: Some(access.clone()),
            access_expires_at: Some(chrono::Utc::now().timestamp() + expires_in),
        };
        credentials::save(&self.server, &login)?;
        self.login = Some(login);
        Ok(access)
    }

    /// An authenticated call; `data` of the envelope. A 401 refreshes the token once.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Value, CliError> {
        let mut force = false;
        loop {
            let token = self.access_token(force).await?;
            let req = build(self.http.request(method.clone(), self.url(path))).bearer_auth(token);
            let resp = send(req).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !force {
                force = true;
                continue;
            }
            return envelope(resp, exit::REFUSED).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }
}

async fn send(req: RequestBuilder) -> Result<reqwest::Response, CliError> {
    req.send()
        .await
        .map_err(|e| CliError::unavailable(format!("cannot reach the server: {e}")))
}

/// `data` of a success envelope; a failure becomes a `CliError` (`refused` for 4xx: its
/// code, except 401, which is `AUTH`).
async fn envelope(resp: reqwest::Response, refused: i32) -> Result<Value, CliError> {
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| {
        CliError::unavailable(format!("the server answered {status} without JSON: {e}"))
    })?;
    if status.is_success() && body["success"] == json!(true) {
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let err = &body["error"];
    let text = err["message"].as_str().unwrap_or("request failed");
    let code = err["code"].as_str().unwrap_or("unknown");
    let mut message = format!("{status}: {code}: {text}");
    if let Some(id) = err["requestId"].as_str() {
        message.push_str(&format!(" (request {id})"));
    }
    let exit_code = match status {
        StatusCode::UNAUTHORIZED => exit::AUTH,
        s if s.is_client_error() => refused,
        _ => exit::UNAVAILABLE,
    };
    Err(CliError::new(exit_code, message))
}
