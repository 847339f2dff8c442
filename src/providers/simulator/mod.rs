//! The built-in simulator: an HTTP service that speaks the OpenAI Videos wire format, so the
//! poller drives it through the real client over real sockets. Mounted on the app under
//! [`MOUNT_V1`] and runnable alone (`taskhub simulator --addr …`).
//!
//! A job goes `queued` (first tenth of its time) -> `in_progress` with rising progress ->
//! `completed` after `TASKHUB_SIMULATOR_SECONDS`. `POST …/videos/{id}/remix` starts a new
//! job from a completed one (its model, seconds and size, a new prompt). A prompt containing `[fail]` fails halfway
//! with a provider error; `[slow]` takes ten times longer. `/content` serves a small playable
//! H.264 MP4 (`assets/sample.mp4`, with HTTP range support) and a JPEG thumbnail.
//!
//! The simulator keeps no job table: a job's whole description (creation time, duration,
//! fate, model, seconds, size) is encoded in its id, so every node's simulator answers for
//! every job (several nodes on one database poll each other's tasks) and memory never grows.
//! Only deletions are remembered, per node, in a set bounded by bytes
//! (`TASKHUB_SIMULATOR_DELETED_BYTES`). Ids longer than any the simulator issues
//! ([`MAX_ID_BYTES`]) are refused with 400 before any lookup; JSON bodies are capped at
//! [`MAX_JSON_BODY`], multipart ones at the largest upload plus 64 KiB.
//!
//! The app mounts it only in development with `TASKHUB_PROVIDER=simulator` (see
//! `routes::router`); it has no authentication of its own.

mod deleted;
mod job;
mod range;
mod remix;
mod reseller;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use self::deleted::DeletedSet;
use self::job::{Spec, EXPIRES_AFTER_MS};
pub use self::range::ranged;
use super::wire::{VideoObject, POLL_AFTER_HEADER};
use crate::domain::time::now_ms;

/// Where the simulator's API root sits on the app (`…/videos` below it).
pub const MOUNT_V1: &str = "/simulator/v1";
/// Where the simulator's reseller-style API sits on the app (`…/api/v1/jobs/…` below it).
pub const MOUNT_RESELLER: &str = "/simulator";
pub static SAMPLE_MP4: &[u8] = include_bytes!("../../../assets/sample.mp4");
pub static SAMPLE_JPG: &[u8] = include_bytes!("../../../assets/sample.jpg");
/// Longest id accepted; the ids the simulator issues stay well below it (model and size
/// are capped at creation). A format check, not a tunable limit.
pub const MAX_ID_BYTES: usize = 1024;
/// Largest JSON create body (the prompt is at most 32000 bytes).
pub const MAX_JSON_BODY: usize = 64 * 1024;
const MAX_MODEL_BYTES: usize = 100;
const MAX_SIZE_BYTES: usize = 32;
/// Defaults of [`Simulator::new`] (the app passes its settings through [`Simulator::with_limits`]).
const DEFAULT_MAX_UPLOAD: usize = 10 * 1024 * 1024;
const DEFAULT_DELETED_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Simulator {
    seconds: f64,
    deleted: Arc<DeletedSet>,
    /// Largest multipart create body.
    max_body: usize,
    /// OpenAI-style webhooks when jobs end (`TASKHUB_SIMULATOR_WEBHOOK_URL`).
    webhooks: Option<Arc<webhooks::WebhookSender>>,
}

impl Simulator {
    pub fn new(seconds: f64) -> Self {
        Self::with_limits(seconds, DEFAULT_MAX_UPLOAD, DEFAULT_DELETED_BYTES)
    }

    /// `max_upload_bytes`: largest reference image accepted (multipart bodies may be 64 KiB
    /// more); `deleted_bytes`: memory budget of the deleted-id set.
    pub fn with_limits(seconds: f64, max_upload_bytes: usize, deleted_bytes: usize) -> Self {
        Self {
            seconds: if seconds.is_finite() {
                seconds.max(0.0)
            } else {
                10.0
            },
            deleted: Arc::new(DeletedSet::new(deleted_bytes)),
            max_body: max_upload_bytes.saturating_add(64 * 1024),
            webhooks: None,
        }
    }

    /// Sends a signed webhook when each job created from now on ends.
    pub fn with_webhooks(mut self, sender: Option<webhooks::WebhookSender>) -> Self {
        self.webhooks = sender.map(Arc::new);
        self
    }
}

/// The simulator's routes under `{prefix}/videos` (`prefix` like `/v1`).
/// Mounted at [`MOUNT_V1`], it also serves the reseller-style API under [`MOUNT_RESELLER`].
pub fn router<S: Clone + Send + Sync + 'static>(prefix: &str, sim: Simulator) -> Router<S> {
    let mut app = Router::new();
    if prefix == MOUNT_V1 {
        app = app
            .route(
                &format!("{MOUNT_RESELLER}/api/v1/jobs/createTask"),
                post(reseller::create_task),
            )
            .route(
                &format!("{MOUNT_RESELLER}/api/v1/jobs/recordInfo"),
                get(reseller::record_info),
            );
    }
    app.route(
        &format!("{prefix}/videos"),
        post(create).layer(DefaultBodyLimit::max(sim.max_body)),
    )
    .route(
        &format!("{prefix}/videos/{{id}}"),
        get(retrieve).delete(delete),
    )
    .route(&format!("{prefix}/videos/{{id}}/content"), get(content))
    .route(&format!("{prefix}/videos/{{id}}/remix"), post(remix::remix))
    .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
    .with_state(sim)
}

/// Runs the simulator alone on `addr` (API root at `/v1` and at [`MOUNT_V1`]) until `stop`.
pub async fn serve(
    addr: SocketAddr,
    seconds: f64,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let sim = Simulator::new(seconds);
    let app: Router = router("/v1", sim.clone()).merge(router(MOUNT_V1, sim));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "simulator listening on http://{}/v1",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}

fn api_error(status: StatusCode, message: impl Into<String>, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": "invalid_request_error", "param": null, "code": code}});
    (status, Json(body)).into_response()
}

fn not_found(id: &str) -> Response {
    let shown: String = id.chars().take(80).collect();
    api_error(
        StatusCode::NOT_FOUND,
        format!("video '{shown}' not found"),
        Some("not_found"),
    )
}

fn with_hint(spec: &Spec, body: VideoObject) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(POLL_AFTER_HEADER, HeaderValue::from(spec.poll_after_ms()));
    resp
}

#[derive(Default, Deserialize)]
struct CreateBody {
    model: Option<String>,
    prompt: Option<String>,
    seconds: Option<Value>,
    size: Option<String>,
}

async fn create(State(sim): State<Simulator>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let body = if multipart {
        match read_multipart(req).await {
            Ok(b) => b,
            Err(resp) => return resp,
        }
    } else {
        let Ok(raw) = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY).await else {
            return api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_JSON_BODY} bytes"),
                Some("body_too_large"),
            );
        };
        match serde_json::from_slice::<CreateBody>(&raw) {
            Ok(b) => b,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, e.to_string(), None),
        }
    };
    let prompt = body.prompt.unwrap_or_default();
    if prompt.trim().is_empty() || prompt.len() > 32_000 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "prompt is required (at most 32000 bytes)",
            None,
        );
    }
    let seconds = match body.seconds {
        None => Some(4),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    let Some(seconds) = seconds.filter(|s| (1..=60).contains(s)) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "seconds must be a whole number from 1 to 60",
            None,
        );
    };
    let size = body.size.unwrap_or_else(|| "720x1280".into());
    let good_size = size.len() <= MAX_SIZE_BYTES
        && size
            .split_once('x')
            .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok());
    if !good_size {
        return api_error(
            StatusCode::BAD_REQUEST,
            "size must look like 720x1280",
            None,
        );
    }
    let model = body.model.unwrap_or_else(|| "sora-2".into());
    if model.is_empty() || model.len() > MAX_MODEL_BYTES {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("model must be 1 to {MAX_MODEL_BYTES} bytes"),
            None,
        );
    }
    let slow = if prompt.contains("[slow]") { 10.0 } else { 1.0 };
    let spec = Spec {
        t: now_ms(),
        d: (sim.seconds * slow * 1000.0) as i64,
        f: prompt.contains("[fail]"),
        m: model,
        s: seconds,
        z: size,
        n: rand::random(),
    };
    let id = spec.id();
    if id.len() > MAX_ID_BYTES {
        return api_error(StatusCode::BAD_REQUEST, "the job is too large", None);
    }
    if let Some(w) = &sim.webhooks {
        w.schedule(id.clone(), &spec, host.as_deref());
    }
    let video = spec.video(&id, spec.t);
    with_hint(&spec, video)
}

async fn read_multipart(req: Request) -> Result<CreateBody, Response> {
    let bad = |m: String| api_error(StatusCode::BAD_REQUEST, m, None);
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| bad(e.body_text()))?;
    let mut body = CreateBody::default();
    let mut reference = None;
    while let Some(field) = mp.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or("").to_string();
        if name == "input_reference" {
            let ok_type = field
                .content_type()
                .is_some_and(|c| c.starts_with("image/"));
            let data = field.bytes().await.map_err(|e| bad(e.body_text()))?;
            if !ok_type || data.is_empty() {
                return Err(bad("input_reference must be a non-empty image file".into()));
            }
            reference = imagesize::blob_size(&data).ok();
            continue;
        }
        let text = field.text().await.map_err(|e| bad(e.body_text()))?;
        match name.as_str() {
            "model" => body.model = Some(text),
            "prompt" => body.prompt = Some(text),
            "seconds" => body.seconds = Some(Value::String(text)),
            "size" => body.size = Some(text),
            _ => {}
        }
    }
    // Like OpenAI: a reference image must have the video's size (one whose header cannot
    // be read is let through).
    if let Some(r) = reference {
        let size = body.size.as_deref().unwrap_or("720x1280");
        if format!("{}x{}", r.width, r.height) != size {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "Inpaint image must match the requested width and height (got {}x{}, size {size})",
                    r.width, r.height
                ),
                Some("inpaint_image_size_mismatch"),
            ));
        }
    }
    Ok(body)
}

/// The job `id` describes, unless it was deleted; a too-long id is a 400, an unknown one 404.
fn live_spec(sim: &Simulator, id: &str) -> Result<Spec, Box<Response>> {
    if id.len() > MAX_ID_BYTES {
        return Err(Box::new(api_error(
            StatusCode::BAD_REQUEST,
            format!("video ids are at most {MAX_ID_BYTES} bytes"),
            Some("invalid_id"),
        )));
    }
    Spec::parse(id)
        .filter(|_| !sim.deleted.contains(id))
        .ok_or_else(|| Box::new(not_found(id)))
}

async fn retrieve(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    match live_spec(&sim, &id) {
        Ok(spec) => {
            let video = spec.video(&id, now_ms());
            with_hint(&spec, video)
        }
        Err(resp) => *resp,
    }
}

async fn delete(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    if let Err(resp) = live_spec(&sim, &id) {
        return *resp;
    }
    sim.deleted.insert(&id);
    Json(json!({"id": id, "object": "video.deleted", "deleted": true})).into_response()
}

#[derive(Deserialize)]
struct ContentQuery {
    variant: Option<String>,
}

async fn content(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Query(q): Query<ContentQuery>,
    headers: HeaderMap,
) -> Response {
    let spec = match live_spec(&sim, &id) {
        Ok(spec) => spec,
        Err(resp) => return *resp,
    };
    let now = now_ms();
    if spec.video(&id, now).status != "completed" {
        return api_error(
            StatusCode::BAD_REQUEST,
            "the video is not ready",
            Some("video_not_ready"),
        );
    }
    if now > spec.completed_at() + EXPIRES_AFTER_MS {
        return api_error(
            StatusCode::NOT_FOUND,
            "the video has expired",
            Some("video_expired"),
        );
    }
    match q.variant.as_deref().unwrap_or("video") {
        "video" => ranged(SAMPLE_MP4, "video/mp4", &headers),
        "thumbnail" => ranged(SAMPLE_JPG, "image/jpeg", &headers),
        other => api_error(
            StatusCode::BAD_REQUEST,
            format!("unsupported variant '{other}'"),
            None,
        ),
    }
}
