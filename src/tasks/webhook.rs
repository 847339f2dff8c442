//! Outgoing task webhooks. When a task with a `webhookUrl` ends, its terminal event (the
//! same envelope as the WS frame) is written to the outbox in the event's own transaction
//! (`store::webhooks`); [`Webhooks::wake`] then nudges this node's worker.
//!
//! [`WebhookWorker`] runs on every node: it claims due messages under a lease (one node at a
//! time per message), POSTs each through the guarded [`Outbound`] client (the SSRF rules are
//! checked again at every attempt; a refused address is a failed attempt, not a crash),
//! signed with the owner's Standard Webhooks secret, and records the attempt. 2xx is
//! delivered, 410 Gone stops, anything else (other statuses, timeouts, refusals) is retried
//! after an exponential, fully jittered delay until the message is `webhook_max_age_secs`
//! old. [`WebhookWorker::deliver_once`] runs one batch: tests step it directly.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;
use tokio::sync::Notify;

use super::context::TaskContext;
use super::outbound::Outbound;
use super::settings::WebhookSettings;
use crate::domain::standard_webhooks;
use crate::domain::time::now_ms;
use crate::domain::TaskEvent;
use crate::store::{NextStep, Store, StoreResult, Task, WebhookAttempt, WebhookDelivery};

/// Longest error text kept for an attempt.
const MAX_ERROR_CHARS: usize = 300;

/// The node's webhook settings, client and wake-up bell.
#[derive(Clone)]
pub struct Webhooks {
    outbound: Outbound,
    settings: WebhookSettings,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn new(settings: &WebhookSettings, outbound: Outbound) -> Self {
        Self {
            outbound,
            settings: settings.clone(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// After a commit: wakes the worker when `event` put a message in the outbox.
    pub fn wake(&self, task: &Task, event: &TaskEvent) {
        if task.webhook_url.is_some() && event.event_type.is_terminal() {
            self.wake.notify_one();
        }
    }
}

/// A fresh `whsec_<base64 of 24 random bytes>` secret.
pub fn new_secret() -> String {
    let mut rng = rand::rng();
    let bytes: Vec<u8> = (0..24).map(|_| rng.random::<u8>()).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("whsec_{b64}")
}

/// The longest delay before attempt `attempt + 1` (1-based `attempt` just failed):
/// `base * 2^(attempt-1)`, at most `max`.
pub fn retry_ceiling_ms(base_ms: u64, max_ms: u64, attempt: i64) -> u64 {
    let doublings = (attempt - 1).clamp(0, 40) as u32;
    base_ms.saturating_mul(1u64 << doublings).min(max_ms)
}

/// What one [`WebhookWorker::deliver_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub claimed: usize,
    pub delivered: usize,
}

/// Delivers due outbox messages; one per node (tests make several).
#[derive(Clone)]
pub struct WebhookWorker {
    state: TaskContext,
    node_id: String,
}

impl WebhookWorker {
    pub fn new(state: impl Into<TaskContext>) -> Self {
        Self {
            state: state.into(),
            node_id: format!("node-{}", uuid::Uuid::new_v4()),
        }
    }

    /// The same worker under another node id (tests run several "nodes" in one process).
    pub fn with_node_id(mut self, node_id: &str) -> Self {
        self.node_id = node_id.into();
        self
    }

    fn hooks(&self) -> &Webhooks {
        &self.state.video.webhooks
    }

    fn store(&self) -> &Store {
        &self.state.store
    }

    /// Runs until shutdown: a batch, then waits for a wake-up or the interval.
    pub async fn run(self) {
        let s = &self.hooks().settings;
        let interval = Duration::from_millis(s.webhook_worker_interval_ms.max(10));
        let full = s.webhook_concurrency.max(1);
        let stop = self.state.shutdown.clone();
        while !stop.is_cancelled() {
            let claimed = match self.deliver_once().await {
                Ok(b) => b.claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook batch failed");
                    0
                }
            };
            if claimed >= full {
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.hooks().wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
        }
        if let Err(e) = self.store().release_webhook_leases(&self.node_id).await {
            tracing::warn!(error = %e, "could not release webhook leases");
        }
    }

    /// Claims up to `webhook_concurrency` due messages and makes one attempt at each.
    pub async fn deliver_once(&self) -> StoreResult<Batch> {
        let s = &self.hooks().settings;
        let now = now_ms();
        let lease = s.webhook_lease_ms.max(2 * s.webhook_timeout_ms + 1_000) as i64;
        let limit = s.webhook_concurrency.max(1) as i64;
        let due = self
            .store()
            .claim_webhook_deliveries(&self.node_id, now, now + lease, limit)
            .await?;
        let claimed = due.len();
        let results =
            futures_util::future::join_all(due.into_iter().map(|d| self.attempt(d))).await;
        let mut delivered = 0;
        for (attempt, next) in results {
            let kept = self
                .store()
                .finish_webhook_attempt(&self.node_id, &attempt, next)
                .await?;
            if !kept {
                tracing::warn!(id = %attempt.delivery_id, "webhook lease lost during an attempt");
            }
            delivered += usize::from(kept && next == NextStep::Delivered);
        }
        Ok(Batch { claimed, delivered })
    }

    /// One POST of `d`, and what follows from its answer.
    async fn attempt(&self, d: WebhookDelivery) -> (WebhookAttempt, NextStep) {
        let at = now_ms();
        let started = Instant::now();
        let result = self.post(&d).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let (status_code, error) = match &result {
            Ok(code) => (Some(i64::from(*code)), None),
            Err(e) => (None, Some(e.chars().take(MAX_ERROR_CHARS).collect())),
        };
        let attempt_no = d.attempts + 1;
        let next = match result {
            Ok(200..=299) => NextStep::Delivered,
            Ok(410) => NextStep::Failed,
            _ => self.retry_or_give_up(&d, attempt_no),
        };
        let outcome = match (&next, status_code) {
            (NextStep::Delivered, _) => "delivered",
            (_, Some(_)) => "refused",
            _ => "failed",
        };
        crate::ops::metrics::webhook(outcome);
        tracing::debug!(id = %d.id, video_id = %d.task_id, attempt_no, ?status_code, ?next, "webhook attempt");
        let attempt = WebhookAttempt {
            delivery_id: d.id,
            attempt: attempt_no,
            at,
            status_code,
            error,
            duration_ms,
        };
        (attempt, next)
    }

    fn retry_or_give_up(&self, d: &WebhookDelivery, attempt_no: i64) -> NextStep {
        let s = &self.hooks().settings;
        let ceiling = retry_ceiling_ms(s.webhook_retry_base_ms, s.webhook_retry_max_ms, attempt_no);
        let delay = rand::rng().random_range(0..=ceiling) as i64;
        let next = now_ms() + delay;
        let max_age_ms = (s.webhook_max_age_secs as i64).saturating_mul(1000);
        if next > d.created_at.saturating_add(max_age_ms) {
            NextStep::Failed
        } else {
            NextStep::RetryAt(next)
        }
    }

    /// POSTs the message; the answer's status, or why there was none.
    async fn post(&self, d: &WebhookDelivery) -> Result<u16, String> {
        let hooks = self.hooks();
        let client = hooks.outbound.client_for(&d.url)?;
        let secret = self
            .store()
            .ensure_webhook_secret(&d.user_id, &new_secret(), now_ms())
            .await
            .map_err(|e| format!("could not read the signing secret: {e}"))?;
        let key = standard_webhooks::parse_secret(&secret)
            .ok_or_else(|| "the stored signing secret is unreadable".to_string())?;
        let ts = now_ms() / 1000;
        let body = d.payload.as_bytes();
        let mut req = client
            .post(&d.url)
            .timeout(Duration::from_millis(
                hooks.settings.webhook_timeout_ms.max(1),
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", ts.to_string())
            .header(
                "webhook-signature",
                standard_webhooks::sign(&key, &d.id, ts, body),
            )
            .header("X-Taskhub-Event", &d.event_type);
        let legacy = &hooks.settings.webhook_secret;
        if !legacy.is_empty() {
            let mut mac = Hmac::<Sha256>::new_from_slice(legacy.expose().as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(body);
            let sig = hex::encode(mac.finalize().into_bytes());
            req = req.header("X-Taskhub-Signature", format!("sha256={sig}"));
        }
        match req.body(d.payload.clone()).send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) => Err(describe(e)),
        }
    }
}

/// A transport error with its causes (the resolver's refusal of a private address is one),
/// without the URL.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_ceilings_double_from_the_base_up_to_the_cap() {
        let c = |n| retry_ceiling_ms(5_000, 3_600_000, n);
        assert_eq!(
            (c(1), c(2), c(3), c(10)),
            (5_000, 10_000, 20_000, 2_560_000)
        );
        assert_eq!(
            (c(11), c(60), c(i64::MAX)),
            (3_600_000, 3_600_000, 3_600_000)
        );
        assert_eq!(retry_ceiling_ms(0, 10, 5), 0);
    }

    #[test]
    fn new_secrets_are_whsec_of_24_random_bytes() {
        let a = new_secret();
        let key = standard_webhooks::parse_secret(&a).unwrap();
        assert!(a.starts_with("whsec_"));
        assert_eq!(key.len(), 24);
        assert_ne!(a, new_secret());
    }
}
