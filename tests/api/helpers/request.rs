//! A small request builder for the tests: `app.post(path).auth(&tok).json(body)` builds a
//! request; awaiting it sends it and gives a [`Reply`] (status and JSON body), whose
//! `expect*` methods assert on it in one line:
//!
//! ```ignore
//! let v = app.post("/api/video/tasks").auth(&tok).json(body).await.expect(201);
//! app.get(format!("/api/video/tasks/{id}")).auth(&other).await.expect(404);
//! app.post(&path).auth(&tok).await.expect_error(403, "notLocalTestPayment");
//! ```
//!
//! `.response()` sends it and hands back the raw `reqwest::Response` instead, for headers
//! and bytes.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::TestApp;

/// A request to the app under test, not sent yet.
pub struct Call {
    req: RequestBuilder,
}

impl TestApp {
    /// Starts a `method` request to `path` (relative to the app).
    pub fn request(&self, method: Method, path: impl AsRef<str>) -> Call {
        Call {
            req: self.client.request(method, self.url(path.as_ref())),
        }
    }

    pub fn get(&self, path: impl AsRef<str>) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: impl AsRef<str>) -> Call {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: impl AsRef<str>) -> Call {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: impl AsRef<str>) -> Call {
        self.request(Method::DELETE, path)
    }
}

impl Call {
    /// Authenticates with a bearer token.
    pub fn auth(self, token: &str) -> Call {
        self.map(|r| r.bearer_auth(token))
    }

    /// Sends `body` as JSON.
    pub fn json(self, body: Value) -> Call {
        self.map(|r| r.json(&body))
    }

    pub fn header(self, name: &str, value: impl AsRef<str>) -> Call {
        self.map(|r| r.header(name, value.as_ref()))
    }

    /// Sends `bytes` as the body, as they are.
    pub fn body(self, bytes: Vec<u8>) -> Call {
        self.map(|r| r.body(bytes))
    }

    pub fn multipart(self, form: reqwest::multipart::Form) -> Call {
        self.map(|r| r.multipart(form))
    }

    fn map(self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Call {
        Call { req: f(self.req) }
    }

    /// Sends the request; the raw response.
    pub async fn response(self) -> Response {
        self.req.send().await.expect("request")
    }

    /// Sends the request; its status and JSON body (`Null` when the body is not JSON).
    pub async fn send(self) -> Reply {
        Reply::read(self.response().await).await
    }
}

impl IntoFuture for Call {
    type Output = Reply;
    type IntoFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A response's status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Reads `resp`'s status and JSON body (`Null` when the body is not JSON).
    pub async fn read(resp: Response) -> Reply {
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Asserts the status (the body in the message); returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// Asserts the status, with `why` (and the body) in the message; returns the body.
    #[track_caller]
    pub fn expect_because(self, status: u16, why: impl std::fmt::Display) -> Value {
        assert_eq!(self.status, status, "{why}: {}", self.body);
        self.body
    }

    /// Asserts the status and `error.code`; returns the body.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status, self.code()),
            (status, Some(code)),
            "{}",
            self.body
        );
        self.body
    }

    /// Asserts the status and that `error.message` mentions `needle`; returns the body.
    #[track_caller]
    pub fn expect_message(self, status: u16, needle: &str) -> Value {
        let said = self.body["error"]["message"].as_str().unwrap_or("");
        assert_eq!(self.status, status, "{}", self.body);
        assert!(said.contains(needle), "{needle}: {}", self.body);
        self.body
    }

    /// Asserts a 422 whose `error.fields` names `field`; returns the body.
    #[track_caller]
    pub fn expect_invalid(self, field: &str) -> Value {
        let named = self.body["error"]["fields"][field].is_string();
        assert_eq!((self.status, named), (422, true), "{field}: {}", self.body);
        self.body
    }

    /// The body's `error.code`, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}
