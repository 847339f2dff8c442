//! The OpenAI-compatible client against a mock HTTP server (a small axum app on
//! 127.0.0.1:0): field names, multipart, retries on 429/503 with `Retry-After`, timeouts,
//! error mapping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use taskhub::providers::openai::{ClientConfig, OpenAiClient};
use taskhub::providers::{CreateJob, InputImage, JobState, Provider, ProviderError, Variant};
use taskhub::secret::Secret;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

/// One canned answer: status, headers, body, and how long to wait before answering.
#[derive(Clone)]
pub struct Canned(
    pub u16,
    pub Vec<(&'static str, String)>,
    pub String,
    pub Duration,
);

pub fn ok_json(body: Value) -> Canned {
    Canned(200, vec![], body.to_string(), Duration::ZERO)
}

#[derive(Default)]
pub struct Mock {
    pub requests: Mutex<Vec<Recorded>>,
    answers: Mutex<VecDeque<Canned>>,
    /// Answered when the queue is empty.
    fallback: Mutex<Option<Canned>>,
}

impl Mock {
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    pub fn nth(&self, i: usize) -> Recorded {
        self.requests.lock().unwrap()[i].clone()
    }
}

async fn answer(State(mock): State<Arc<Mock>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    mock.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
        at: Instant::now(),
    });
    let next = mock.answers.lock().unwrap().pop_front();
    let Some(Canned(status, headers, body, delay)) =
        next.or_else(|| mock.fallback.lock().unwrap().clone())
    else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no answer scripted").into_response();
    };
    tokio::time::sleep(delay).await;
    let mut resp = Response::builder().status(status);
    for (k, v) in headers {
        resp = resp.header(k, v);
    }
    if body.starts_with('{') {
        resp = resp.header("content-type", "application/json");
    }
    resp.body(Body::from(body)).unwrap()
}

/// A mock API answering `answers` in order, then `fallback`. Returns its `/v1` root.
pub async fn spawn_mock(answers: Vec<Canned>, fallback: Option<Canned>) -> (String, Arc<Mock>) {
    let mock = Arc::new(Mock {
        answers: Mutex::new(answers.into()),
        fallback: Mutex::new(fallback),
        ..Default::default()
    });
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), mock)
}

pub fn config(timeout_ms: u64, retries: u32) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(timeout_ms),
        download_timeout: Duration::from_millis(timeout_ms),
        max_retries: retries,
        retry_base: Duration::from_millis(20),
        max_retry_wait: Duration::from_secs(5),
    }
}

fn client(base: &str, cfg: ClientConfig) -> OpenAiClient {
    OpenAiClient::new(base, Some(Secret::new("fake-key-for-tests")), cfg).unwrap()
}

fn video(status: &str) -> Value {
    json!({"id": "video_abc", "object": "video", "status": status, "progress": 0,
           "created_at": 1_700_000_000, "model": "sora-2", "seconds": "8", "size": "1280x720"})
}

fn job(image: Option<InputImage>) -> CreateJob {
    CreateJob {
        model: "sora-2".into(),
        prompt: "a red fox in snow".into(),
        seconds: 8,
        size: "1280x720".into(),
        input_reference: image,
    }
}

#[tokio::test]
async fn create_sends_the_openai_fields_as_json() {
    let mut answer = ok_json(video("queued"));
    answer.1.push(("openai-poll-after-ms", "1500".into()));
    let (base, mock) = spawn_mock(vec![answer], None).await;
    let st = client(&base, config(2_000, 0))
        .create(&job(None))
        .await
        .unwrap();
    assert_eq!(
        (st.external_id.as_str(), st.state),
        ("video_abc", JobState::Queued)
    );
    assert_eq!(st.poll_after_ms, Some(1500), "the poll-after hint is kept");
    let req = mock.nth(0);
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/videos")
    );
    assert_eq!(req.headers["authorization"], "Bearer fake-key-for-tests");
    assert!(req.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "sora-2", "prompt": "a red fox in snow", "seconds": "8", "size": "1280x720"}),
        "seconds is a string, as the API wants"
    );
}

#[tokio::test]
async fn image_jobs_are_multipart_with_input_reference() {
    let (base, mock) = spawn_mock(vec![ok_json(video("queued"))], None).await;
    let image = InputImage {
        bytes: Bytes::from_static(b"\x89PNG fake image"),
        file_name: "reference.png".into(),
        mime: "image/png".into(),
    };
    client(&base, config(2_000, 0))
        .create(&job(Some(image)))
        .await
        .unwrap();
    let req = mock.nth(0);
    let ct = req.headers["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("multipart/form-data"), "{ct}");
    let raw = Request::builder()
        .header("content-type", ct)
        .body(Body::from(req.body))
        .unwrap();
    let mut mp = Multipart::from_request(raw, &()).await.unwrap();
    let mut fields = Vec::new();
    while let Some(f) = mp.next_field().await.unwrap() {
        let name = f.name().unwrap().to_string();
        let meta = (
            f.file_name().map(str::to_string),
            f.content_type().map(str::to_string),
        );
        fields.push((name, meta, f.bytes().await.unwrap()));
    }
    let text = |n: &str| {
        let f = fields
            .iter()
            .find(|f| f.0 == n)
            .unwrap_or_else(|| panic!("no {n}"));
        String::from_utf8(f.2.to_vec()).unwrap()
    };
    assert_eq!(
        (text("model"), text("prompt"), text("seconds"), text("size")),
        (
            "sora-2".into(),
            "a red fox in snow".into(),
            "8".into(),
            "1280x720".into()
        )
    );
    let img = fields
        .iter()
        .find(|f| f.0 == "input_reference")
        .expect("input_reference part");
    assert_eq!(
        img.1,
        (Some("reference.png".into()), Some("image/png".into()))
    );
    assert_eq!(&img.2[..], b"\x89PNG fake image");
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried_after_retry_after() {
    let busy = |code| {
        let body = json!({"error": {"message": "slow down", "code": null}}).to_string();
        Canned(
            code,
            vec![("retry-after", "1".into())],
            body,
            Duration::ZERO,
        )
    };
    let (base, mock) = spawn_mock(
        vec![busy(429), busy(503), ok_json(video("in_progress"))],
        None,
    )
    .await;
    let st = client(&base, config(2_000, 3))
        .status("video_abc")
        .await
        .unwrap();
    assert_eq!(st.state, JobState::Running);
    assert_eq!(mock.count(), 3, "two retries, then success");
    for i in 1..3 {
        let gap = mock.nth(i).at - mock.nth(i - 1).at;
        assert!(
            gap >= Duration::from_millis(950),
            "Retry-After: 1 respected, waited {gap:?}"
        );
    }
    assert_eq!(mock.nth(2).path, "/v1/videos/video_abc");
}

#[tokio::test]
async fn outages_without_a_hint_back_off_then_give_up() {
    let down = Canned(503, vec![], "upstream down".into(), Duration::ZERO);
    let (base, mock) = spawn_mock(vec![], Some(down)).await;
    let err = client(&base, config(2_000, 2))
        .status("video_abc")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert!(err.to_string().contains("upstream down"), "{err}");
    assert_eq!(mock.count(), 3, "first try and two retries");
}

#[tokio::test]
async fn a_long_retry_after_goes_back_to_the_caller() {
    let limited = Canned(
        429,
        vec![("retry-after", "120".into())],
        "{}".into(),
        Duration::ZERO,
    );
    let (base, mock) = spawn_mock(vec![limited], None).await;
    let err = client(&base, config(2_000, 3))
        .status("video_abc")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Transient {
            message: "429 Too Many Requests: {}".into(),
            retry_after_ms: Some(120_000)
        }
    );
    assert_eq!(mock.count(), 1, "no two-minute sleep inside the call");
}

#[tokio::test]
async fn client_errors_fail_with_the_providers_message() {
    let body = json!({"error": {"message": "Your prompt was blocked", "type": "invalid_request_error", "code": "moderation_blocked"}});
    let (base, mock) = spawn_mock(
        vec![Canned(400, vec![], body.to_string(), Duration::ZERO)],
        None,
    )
    .await;
    let err = client(&base, config(2_000, 3))
        .create(&job(None))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Rejected {
            status: 400,
            code: Some("moderation_blocked".into()),
            message: "Your prompt was blocked".into()
        }
    );
    assert_eq!(mock.count(), 1, "4xx is not retried");
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_but_not_for_creates() {
    let slow = Canned(
        200,
        vec![],
        video("queued").to_string(),
        Duration::from_millis(800),
    );
    let (base, mock) = spawn_mock(vec![], Some(slow)).await;
    let c = client(&base, config(150, 1));
    let err = c.status("video_abc").await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(mock.count(), 2, "a read is retried once");
    let err = c.create(&job(None)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
    assert_eq!(
        mock.count(),
        3,
        "a create that may have arrived is not sent twice"
    );
}

#[tokio::test]
async fn statuses_map_and_content_streams() {
    let mut done = video("completed");
    done["expires_at"] = json!(1_700_003_600);
    done["error"] = Value::Null;
    done["some_future_field"] = json!({"nested": true});
    let content = Canned(
        200,
        vec![("content-type", "image/webp".into())],
        "WEBPDATA".into(),
        Duration::ZERO,
    );
    let gone = Canned(
        404,
        vec![],
        json!({"error": {"message": "not found"}}).to_string(),
        Duration::ZERO,
    );
    let (base, mock) = spawn_mock(vec![ok_json(done), content, gone], None).await;
    let c = client(&base, config(2_000, 0));
    let st = c.status("video_abc").await.unwrap();
    assert_eq!(
        (st.state, st.expires_at, st.seconds),
        (JobState::Completed, Some(1_700_003_600_000), Some(8))
    );
    let dl = c.download("video_abc", Variant::Thumbnail).await.unwrap();
    assert_eq!(dl.content_type.as_deref(), Some("image/webp"));
    let bytes: Vec<u8> = dl.body.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(bytes, b"WEBPDATA");
    let req = mock.nth(1);
    assert_eq!(
        (req.path.as_str(), req.query.as_str()),
        ("/v1/videos/video_abc/content", "variant=thumbnail")
    );
    c.cancel("video_abc")
        .await
        .expect("deleting a job that is gone is fine");
    assert_eq!(mock.nth(2).method, "DELETE");
}
