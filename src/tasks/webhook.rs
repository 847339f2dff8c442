//! Webhooks: when a task ends (completed, failed, cancelled) and it has a `webhookUrl`, the
//! terminal event's envelope (the same JSON as the WS frame) is POSTed to it after commit,
//! once, best effort, with a time limit. Deliveries run in the background, at most
//! [`MAX_IN_FLIGHT`] at a time; past that they are dropped with a warning (the event log
//! keeps the truth). With `TASKHUB_WEBHOOK_SECRET` set, `X-Taskhub-Signature` carries
//! `sha256=<hex HMAC of the body>`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::outbound::Outbound;
use super::settings::WebhookSettings;
use crate::domain::TaskEvent;
use crate::secret::Secret;
use crate::store::Task;

/// Deliveries in flight per node.
const MAX_IN_FLIGHT: usize = 256;

#[derive(Clone)]
pub struct Webhooks {
    outbound: Outbound,
    secret: Secret,
    timeout: Duration,
    permits: Arc<Semaphore>,
}

impl Webhooks {
    pub fn new(settings: &WebhookSettings, outbound: Outbound) -> Self {
        Self {
            outbound,
            secret: settings.webhook_secret.clone(),
            timeout: Duration::from_millis(settings.webhook_timeout_ms.max(1)),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Starts delivering `event` to the task's webhook, if it has one and the event is terminal.
    pub fn deliver(&self, task: &Task, event: &TaskEvent) {
        let Some(url) = task.webhook_url.clone() else {
            return;
        };
        if !event.event_type.is_terminal() {
            return;
        }
        let client = match self.outbound.client_for(&url) {
            Ok(c) => c.clone(),
            Err(why) => {
                crate::ops::metrics::webhook("blocked");
                tracing::warn!(video_id = %task.id, %why, "webhook not sent");
                return;
            }
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            crate::ops::metrics::webhook("dropped");
            tracing::warn!(video_id = %task.id, "too many webhooks in flight; this one is dropped");
            return;
        };
        let body = event.frame_text();
        let mut req = client
            .post(url)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Taskhub-Event", event.event_type.as_str());
        if !self.secret.is_empty() {
            let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(body.as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            req = req.header("X-Taskhub-Signature", format!("sha256={sig}"));
        }
        let (video_id, seq) = (event.video_id.clone(), event.seq);
        tokio::spawn(async move {
            let _permit = permit;
            match req.body(body).send().await {
                Ok(r) if r.status().is_success() => {
                    crate::ops::metrics::webhook("delivered");
                    tracing::debug!(%video_id, seq, "webhook delivered")
                }
                Ok(r) => {
                    crate::ops::metrics::webhook("refused");
                    tracing::warn!(%video_id, seq, status = r.status().as_u16(), "webhook refused")
                }
                Err(e) => {
                    crate::ops::metrics::webhook("failed");
                    tracing::warn!(%video_id, seq, error = %e, "webhook failed")
                }
            }
        });
    }
}
