//! The simulator's OpenAI-style webhooks (development and tests): with
//! `TASKHUB_SIMULATOR_WEBHOOK_URL` set, each job created through `POST …/videos` is followed,
//! when it ends, by a `video.completed` or `video.failed` event POSTed to that URL, signed
//! with the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`)
//! under `TASKHUB_SIMULATOR_WEBHOOK_SECRET` (unset: `OPENAI_WEBHOOK_SECRET`), as OpenAI
//! does. A URL that is a path (`/api/providers/openai/webhook`) is sent to the host the job
//! was created at, so the app's own simulator calls the app back.
//!
//! Each pending webhook is a sleeping task; at most `TASKHUB_SIMULATOR_WEBHOOK_MAX_PENDING`
//! wait at once (more jobs get none: polling is the safety net). A refused or failed POST is
//! tried [`ATTEMPTS`] times in all.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::job::Spec;
use crate::domain::standard_webhooks::{parse_secret, sign};
use crate::domain::time::now_ms;

/// Tries of one webhook (the first and the retries, one second apart).
pub const ATTEMPTS: u32 = 3;

/// Where and how the simulator sends its webhooks.
pub struct WebhookSender {
    url: String,
    key: Vec<u8>,
    pending: Arc<Semaphore>,
    client: reqwest::Client,
}

impl WebhookSender {
    /// `None` when `url` is empty, or the secret is not a `whsec_` secret (logged).
    pub fn new(url: &str, whsec: &str, max_pending: usize) -> Option<Self> {
        if url.is_empty() {
            return None;
        }
        let Some(key) = parse_secret(whsec) else {
            tracing::warn!("TASKHUB_SIMULATOR_WEBHOOK_URL is set without a valid whsec_ secret: no simulator webhooks");
            return None;
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self {
            url: url.to_string(),
            key,
            pending: Arc::new(Semaphore::new(max_pending)),
            client,
        })
    }

    /// After `spec` ends, POSTs its event for job `id`; `host` is the `Host` the job was
    /// created at (for a URL that is a path).
    pub(super) fn schedule(self: &Arc<Self>, id: String, spec: &Spec, host: Option<&str>) {
        let url = if self.url.starts_with('/') {
            match host {
                Some(h) => format!("http://{h}{}", self.url),
                None => return,
            }
        } else {
            self.url.clone()
        };
        let Ok(permit) = self.pending.clone().try_acquire_owned() else {
            tracing::warn!("too many pending simulator webhooks: this job gets none");
            return;
        };
        let (at, kind) = if spec.f {
            (spec.t + (spec.d + 1) / 2, "video.failed")
        } else {
            (spec.completed_at(), "video.completed")
        };
        let me = self.clone();
        tokio::spawn(async move {
            let wait = u64::try_from(at - now_ms()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            me.send(&url, &id, kind).await;
            drop(permit);
        });
    }

    async fn send(&self, url: &str, job_id: &str, kind: &str) {
        let msg_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        let body = serde_json::json!({"id": msg_id, "object": "event",
            "created_at": now_ms() / 1000, "type": kind, "data": {"id": job_id}});
        let body = serde_json::to_vec(&body).unwrap_or_default();
        for attempt in 1..=ATTEMPTS {
            let ts = now_ms() / 1000;
            let sent = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &msg_id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sign(&self.key, &msg_id, ts, &body))
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::warn!(status = %r.status(), attempt, "simulator webhook refused"),
                Err(e) => tracing::warn!(error = %e, attempt, "simulator webhook failed"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
