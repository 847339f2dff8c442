//! The simulator's callback mode: a reseller-style API (`providers::callback` is its client)
//! under [`super::MOUNT_RESELLER`]: `POST /api/v1/jobs/createTask {model, callBackUrl,
//! input:{prompt, seconds, size}}` and `GET /api/v1/jobs/recordInfo?taskId=`. Jobs are the
//! same self-describing ids as the OpenAI-style ones (their video is served by the same
//! `/content` route), and when a job ends the simulator POSTs `{code, msg, data:{taskId,
//! state, resultJson, failCode, failMsg}}` to its `callBackUrl` (once, best effort).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::job::Spec;
use super::{live_spec, Simulator, MAX_ID_BYTES, MOUNT_V1};
use crate::domain::time::now_ms;

/// How long the simulator waits for a callback's receiver.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_URL_BYTES: usize = 2048;

fn answer(code: u16, msg: &str, data: Value) -> Response {
    Json(json!({"code": code, "msg": msg, "data": data})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTask {
    model: Option<String>,
    call_back_url: Option<String>,
    input: Option<Input>,
}

#[derive(Deserialize)]
struct Input {
    prompt: Option<String>,
    seconds: Option<i64>,
    size: Option<String>,
}

pub(super) async fn create_task(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<CreateTask>(&body) else {
        return answer(400, "invalid JSON body", Value::Null);
    };
    let input = req.input.unwrap_or(Input {
        prompt: None,
        seconds: None,
        size: None,
    });
    let prompt = input.prompt.unwrap_or_default();
    if prompt.trim().is_empty() || prompt.len() > 32_000 {
        return answer(
            422,
            "input.prompt is required (at most 32000 bytes)",
            Value::Null,
        );
    }
    let slow = if prompt.contains("[slow]") { 10.0 } else { 1.0 };
    let spec = Spec {
        t: now_ms(),
        d: (sim.seconds * slow * 1000.0) as i64,
        f: prompt.contains("[fail]"),
        m: req
            .model
            .unwrap_or_else(|| "sora-2".into())
            .chars()
            .take(100)
            .collect(),
        s: input.seconds.unwrap_or(4).clamp(1, 60),
        z: input
            .size
            .unwrap_or_else(|| "720x1280".into())
            .chars()
            .take(32)
            .collect(),
        n: rand::random(),
    };
    let id = spec.id();
    if id.len() > MAX_ID_BYTES {
        return answer(422, "the job is too large", Value::Null);
    }
    if let Some(url) = req
        .call_back_url
        .filter(|u| !u.is_empty() && u.len() <= MAX_URL_BYTES)
    {
        let record = Record::of(&spec, &id, &headers);
        tokio::spawn(call_back(url, spec, record));
    }
    answer(200, "success", json!({"taskId": id}))
}

/// Waits for the job's end, then POSTs its record to `url`.
async fn call_back(url: String, spec: Spec, record: Record) {
    let ends_at = if spec.f {
        spec.t + spec.d / 2
    } else {
        spec.completed_at()
    };
    let wait = (ends_at - now_ms()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let data = record.at(&spec, now_ms());
    let body = json!({"code": 200, "msg": "success", "data": data});
    let client = reqwest::Client::new();
    let sent = client
        .post(&url)
        .json(&body)
        .timeout(CALLBACK_TIMEOUT)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::info!(error = %e, "simulator callback not delivered");
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecordQuery {
    task_id: Option<String>,
}

pub(super) async fn record_info(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(q): Query<RecordQuery>,
) -> Response {
    let id = q.task_id.unwrap_or_default();
    match live_spec(&sim, &id) {
        Ok(spec) => answer(
            200,
            "success",
            Record::of(&spec, &id, &headers).at(&spec, now_ms()),
        ),
        Err(_) => answer(404, "task not found", Value::Null),
    }
}

/// What a record says besides the state: the job id and where its video is.
struct Record {
    id: String,
    video_url: String,
}

impl Record {
    fn of(_spec: &Spec, id: &str, headers: &HeaderMap) -> Self {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        Self {
            id: id.into(),
            video_url: format!("http://{host}{MOUNT_V1}/videos/{id}/content"),
        }
    }

    fn at(&self, spec: &Spec, now: i64) -> Value {
        let status = spec.video(&self.id, now).status;
        let (state, result, fail) = match status.as_str() {
            "completed" => (
                "success",
                json!({"resultUrls": [self.video_url]}).to_string(),
                None,
            ),
            "failed" => ("fail", String::new(), Some("simulated_failure")),
            "in_progress" => ("generating", String::new(), None),
            _ => ("waiting", String::new(), None),
        };
        json!({
            "taskId": self.id,
            "state": state,
            "resultJson": result,
            "failCode": fail,
            "failMsg": fail.map(|_| "the simulator failed this job because its prompt contains [fail]"),
        })
    }
}
