//! Client of the OpenAI Videos API wire format (`POST /videos`, `GET /videos/{id}`,
//! `POST /videos/{id}/remix`,
//! `GET /videos/{id}/content?variant=…`, `DELETE /videos/{id}`), as served today by
//! gateways and resellers and by our own simulator.
//!
//! Every call has a time limit. 429 and 5xx answers are retried with exponential backoff
//! and jitter, honouring `Retry-After` / `retry-after-ms` up to `max_retry_wait`; a longer
//! wait is returned as [`ProviderError::Transient`] with the wait, so the poller reschedules
//! the task instead of holding a worker. Timeouts and connection errors are retried for
//! reads, and for a create only when the request never reached the server (a retried create
//! could start a second job). Other 4xx answers are [`ProviderError::Rejected`] with the
//! provider's message.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use rand::RngExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::json;

use super::settings::ProviderSettings;
use super::wire::{ErrorBody, VideoObject, POLL_AFTER_HEADER};
use super::{CreateJob, Download, JobStatus, Provider, ProviderError, ProviderResult, Variant};
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub timeout: Duration,
    pub download_timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    pub max_retry_wait: Duration,
}

impl ClientConfig {
    pub fn from_settings(p: &ProviderSettings) -> Self {
        Self {
            timeout: Duration::from_millis(p.provider_timeout_ms.max(1)),
            download_timeout: Duration::from_millis(p.provider_download_timeout_ms.max(1)),
            max_retries: p.provider_max_retries,
            retry_base: Duration::from_millis(p.provider_retry_base_ms),
            max_retry_wait: Duration::from_millis(p.provider_max_retry_wait_ms),
        }
    }
}

pub struct OpenAiClient {
    /// API root without a trailing slash, e.g. `https://api.example.com/v1`.
    base: String,
    key: Option<Secret>,
    http: reqwest::Client,
    cfg: ClientConfig,
}

impl OpenAiClient {
    pub fn new(base_url: &str, key: Option<Secret>, cfg: ClientConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("taskhub/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            key,
            http,
            cfg,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/videos{path}", self.base)
    }

    /// Sends the request `build` makes (once per attempt) and retries as the module says.
    async fn send(
        &self,
        build: impl Fn() -> RequestBuilder,
        idempotent: bool,
        timeout: Duration,
    ) -> ProviderResult<Response> {
        let mut attempt = 0;
        loop {
            let mut req = build().timeout(timeout);
            if let Some(key) = &self.key {
                req = req.bearer_auth(key.expose());
            }
            let err = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => answer_error(resp).await?,
                Err(e) if idempotent || e.is_connect() => ProviderError::transient(describe(&e)),
                // A create that may have reached the provider is not repeated here.
                Err(e) => return Err(ProviderError::transient(describe(&e))),
            };
            let ProviderError::Transient { retry_after_ms, .. } = &err else {
                return Err(err);
            };
            let wait = retry_after_ms
                .map(Duration::from_millis)
                .unwrap_or_else(|| backoff(self.cfg.retry_base, attempt));
            if attempt >= self.cfg.max_retries || wait > self.cfg.max_retry_wait {
                return Err(err);
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying provider call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn video(resp: Response) -> ProviderResult<JobStatus> {
        let hint = header_u64(resp.headers(), POLL_AFTER_HEADER);
        let v: VideoObject = resp
            .json()
            .await
            .map_err(|e| ProviderError::transient(format!("unreadable answer: {e}")))?;
        if v.id.is_empty() {
            return Err(ProviderError::transient("answer without a video id"));
        }
        Ok(v.to_status(hint))
    }
}

/// A non-2xx answer as an error: 429/5xx are transient (with the wait asked for), the rest
/// are rejections carrying the provider's message.
async fn answer_error(resp: Response) -> ProviderResult<ProviderError> {
    let status = resp.status();
    let retry_after_ms = retry_after(resp.headers());
    let text = resp.text().await.unwrap_or_default();
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
    let detail = body.error.unwrap_or_default();
    let message = detail.message.unwrap_or_else(|| {
        let t: String = text.trim().chars().take(300).collect();
        if t.is_empty() {
            status.to_string()
        } else {
            t
        }
    });
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Ok(ProviderError::Transient {
            message: format!("{status}: {message}"),
            retry_after_ms,
        });
    }
    let code = detail.code.and_then(|c| match c {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    });
    Err(ProviderError::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        format!("request failed: {e}")
    }
}

/// Exponential backoff with equal jitter: half fixed, half random, capped at 30 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(Duration::from_secs(30));
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0)
        .map(|v| v as u64)
}

/// `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &HeaderMap) -> Option<u64> {
    if let Some(ms) = header_u64(h, "retry-after-ms") {
        return Some(ms);
    }
    let raw = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1000.0) as u64);
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    Some((at.timestamp_millis() - crate::domain::time::now_ms()).max(0) as u64)
}

#[async_trait]
impl Provider for OpenAiClient {
    async fn create(&self, job: &CreateJob) -> ProviderResult<JobStatus> {
        let url = self.url("");
        let build = || match &job.input_reference {
            None => self.http.post(&url).json(&json!({
                "model": job.model,
                "prompt": job.prompt,
                "seconds": job.seconds.to_string(),
                "size": job.size,
            })),
            Some(img) => {
                let part = reqwest::multipart::Part::stream(img.bytes.clone())
                    .file_name(img.file_name.clone())
                    .mime_str(&img.mime)
                    .unwrap_or_else(|_| reqwest::multipart::Part::stream(img.bytes.clone()));
                let form = reqwest::multipart::Form::new()
                    .text("model", job.model.clone())
                    .text("prompt", job.prompt.clone())
                    .text("seconds", job.seconds.to_string())
                    .text("size", job.size.clone())
                    .part("input_reference", part);
                self.http.post(&url).multipart(form)
            }
        };
        Self::video(self.send(build, false, self.cfg.timeout).await?).await
    }

    async fn remix(&self, source_external_id: &str, job: &CreateJob) -> ProviderResult<JobStatus> {
        let url = self.url(&format!("/{}/remix", path_segment(source_external_id)));
        let build = || self.http.post(&url).json(&json!({"prompt": job.prompt}));
        Self::video(self.send(build, false, self.cfg.timeout).await?).await
    }

    async fn status(&self, external_id: &str) -> ProviderResult<JobStatus> {
        let url = self.url(&format!("/{}", path_segment(external_id)));
        Self::video(
            self.send(|| self.http.get(&url), true, self.cfg.timeout)
                .await?,
        )
        .await
    }

    async fn download(&self, external_id: &str, variant: Variant) -> ProviderResult<Download> {
        let url = self.url(&format!("/{}/content", path_segment(external_id)));
        let build = || self.http.get(&url).query(&[("variant", variant.as_str())]);
        let resp = self.send(build, true, self.cfg.download_timeout).await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Download {
            content_type,
            content_length: resp.content_length(),
            body: Box::pin(
                resp.bytes_stream()
                    .map_err(|e| ProviderError::transient(format!("download broke off: {e}"))),
            ),
        })
    }

    async fn cancel(&self, external_id: &str) -> ProviderResult<()> {
        let url = self.url(&format!("/{}", path_segment(external_id)));
        match self
            .send(|| self.http.delete(&url), true, self.cfg.timeout)
            .await
        {
            Ok(_) => Ok(()),
            Err(ProviderError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn content_url(&self, external_id: &str, variant: Variant) -> Option<String> {
        Some(format!(
            "{}?variant={}",
            self.url(&format!("/{}/content", path_segment(external_id))),
            variant.as_str()
        ))
    }

    fn max_call_ms(&self) -> u64 {
        let c = &self.cfg;
        let attempts = u64::from(c.max_retries) + 1;
        (c.timeout.as_millis() as u64 + 1_000) * attempts
            + c.max_retry_wait.as_millis() as u64 * u64::from(c.max_retries)
    }

    fn max_download_ms(&self) -> u64 {
        let c = &self.cfg;
        let attempts = u64::from(c.max_retries) + 1;
        (c.download_timeout.as_millis() as u64 + 1_000) * attempts
            + c.max_retry_wait.as_millis() as u64 * u64::from(c.max_retries)
    }
}

/// An external id as one URL path segment (ids come from the provider; never trust them to
/// be path-safe).
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_ms_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(2000));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(150), "the finer header wins");
        let mut h = HeaderMap::new();
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        h.insert(RETRY_AFTER, soon.to_rfc2822().parse().unwrap());
        let ms = retry_after(&h).unwrap();
        assert!((25_000..=30_000).contains(&ms), "{ms}");
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let base = Duration::from_millis(100);
        for attempt in 0..20 {
            let full = base
                .saturating_mul(1 << attempt.min(16))
                .min(Duration::from_secs(30));
            let b = backoff(base, attempt);
            assert!(b >= full / 2 && b <= full, "{attempt}: {b:?}");
        }
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        assert_eq!(path_segment("a/../b?c"), "a%2F..%2Fb%3Fc");
    }
}
