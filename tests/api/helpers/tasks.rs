//! The task routes (`/api/video/tasks…`) as `TestApp` calls, so a test says which task
//! operation it makes and what it expects in one line:
//! `app.cancel_task(&tok, &id).await.expect(200)`.

use reqwest::Method;
use serde_json::{json, Value};

use super::{Call, Reply, TestApp};

impl TestApp {
    /// `method /api/video/tasks/{id}{rest}` as `token`.
    pub fn task_call(&self, method: Method, token: &str, id: &str, rest: &str) -> Call {
        self.request(method, format!("/api/video/tasks/{id}{rest}"))
            .auth(token)
    }

    pub fn get_task(&self, token: &str, id: &str) -> Call {
        self.task_call(Method::GET, token, id, "")
    }

    pub fn delete_task(&self, token: &str, id: &str) -> Call {
        self.task_call(Method::DELETE, token, id, "")
    }

    pub fn cancel_task(&self, token: &str, id: &str) -> Call {
        self.task_call(Method::POST, token, id, "/cancel")
    }

    pub fn retry_task(&self, token: &str, id: &str) -> Call {
        self.task_call(Method::POST, token, id, "/retry")
    }

    pub fn task_content(&self, token: &str, id: &str) -> Call {
        self.task_call(Method::GET, token, id, "/content")
    }

    /// The task's event log (`GET …/events`; the status is not checked).
    pub async fn task_events(&self, token: &str, id: &str) -> Vec<Value> {
        let v = self.task_call(Method::GET, token, id, "/events").await.body;
        v["data"]["events"].as_array().expect("events").clone()
    }

    /// `POST /api/video/tasks` with `body`, as `token`.
    pub fn post_task(&self, token: &str, body: Value) -> Call {
        self.post("/api/video/tasks").auth(token).json(body)
    }

    /// Posts an image-to-video task as multipart: `prompt` and an `image` part of `mime`.
    pub async fn post_image_task(
        &self,
        token: &str,
        prompt: &str,
        image: Vec<u8>,
        mime: &str,
    ) -> Reply {
        let part = reqwest::multipart::Part::bytes(image)
            .file_name("image")
            .mime_str(mime)
            .expect("mime");
        let form = reqwest::multipart::Form::new()
            .text("prompt", prompt.to_string())
            .text("seconds", "4")
            .part("image", part);
        self.post("/api/video/tasks")
            .auth(token)
            .multipart(form)
            .await
    }

    /// Creates a text-to-video task and returns its JSON.
    pub async fn create_task(&self, token: &str, prompt: &str) -> Value {
        let body = json!({"prompt": prompt, "model": "sora-2", "seconds": 4, "size": "720x1280"});
        let reply = self.post_task(token, body).await;
        reply.expect_because(201, "create task")["data"].clone()
    }

    /// Creates a text-to-video task and returns its `videoId`.
    pub async fn create_task_id(&self, token: &str, prompt: &str) -> String {
        self.create_task(token, prompt).await["videoId"]
            .as_str()
            .expect("videoId")
            .to_string()
    }
}
