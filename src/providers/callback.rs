//! Client of a callback-style reseller API (`TASKHUB_PROVIDER=callback`), shaped after the
//! common ones: `POST {base}/api/v1/jobs/createTask {model, callBackUrl, input:{prompt,
//! seconds, size}}` -> `{code: 200, data: {taskId}}`; `GET {base}/api/v1/jobs/recordInfo?
//! taskId=` -> `{code, data: {taskId, state: waiting|generating|success|fail, resultJson:
//! "{\"resultUrls\":[…]}", failCode, failMsg}}`. The provider POSTs to `callBackUrl` when a
//! job ends; that is only a hint (`routes::provider_hooks`): the record is fetched again
//! before anything is settled, and polling stays the safety net.
//!
//! Every call has the provider time limit; a failure is transient (the poller retries the
//! task later) except a 4xx or a `code` other than 200 (and 429/5xx), which rejects.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::openai::ClientConfig;
use super::Variant;
use super::{CreateJob, Download, JobState, JobStatus, Provider, ProviderError, ProviderResult};
use crate::domain::lifecycle::TaskError;
use crate::secret::Secret;

pub struct CallbackClient {
    base: String,
    key: Option<Secret>,
    /// Where the provider's callbacks reach us (`TASKHUB_PUBLIC_URL`, no trailing slash).
    public_url: String,
    http: reqwest::Client,
    cfg: ClientConfig,
}

#[derive(Deserialize)]
struct Answer {
    code: Option<i64>,
    msg: Option<String>,
    data: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Record {
    task_id: String,
    state: Option<String>,
    result_json: Option<String>,
    fail_code: Option<Value>,
    fail_msg: Option<String>,
}

impl CallbackClient {
    pub fn new(
        base: &str,
        key: Option<Secret>,
        public_url: &str,
        cfg: ClientConfig,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("taskhub/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            key,
            public_url: public_url.trim_end_matches('/').to_string(),
            http,
            cfg,
        })
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => req.bearer_auth(k.expose()),
            None => req,
        }
    }

    /// Sends, reads `{code, msg, data}`; `data` when `code` is 200.
    async fn call(&self, req: reqwest::RequestBuilder) -> ProviderResult<Value> {
        let resp = self
            .auth(req)
            .timeout(self.cfg.timeout)
            .send()
            .await
            .map_err(|e| ProviderError::transient(format!("callback provider: {e}")))?;
        let status = resp.status().as_u16();
        let answer: Answer = resp
            .json()
            .await
            .map_err(|e| ProviderError::transient(format!("unreadable answer: {e}")))?;
        let code = answer.code.unwrap_or(i64::from(status));
        let message = answer.msg.unwrap_or_default();
        match (status, code) {
            (200..=299, 200) => answer
                .data
                .ok_or_else(|| ProviderError::transient("no data")),
            (429 | 500..=599, _) | (_, 429 | 500..=599) => Err(ProviderError::transient(message)),
            _ => Err(ProviderError::Rejected {
                status: u16::try_from(code).unwrap_or(status),
                code: None,
                message,
            }),
        }
    }

    async fn record(&self, task_id: &str) -> ProviderResult<Record> {
        let url = format!("{}/api/v1/jobs/recordInfo", self.base);
        let data = self
            .call(self.http.get(url).query(&[("taskId", task_id)]))
            .await?;
        serde_json::from_value(data)
            .map_err(|e| ProviderError::transient(format!("bad record: {e}")))
    }
}

impl Record {
    fn status(&self) -> JobStatus {
        let state = match self.state.as_deref() {
            Some("success") => JobState::Completed,
            Some("fail") => JobState::Failed,
            Some("generating") => JobState::Running,
            _ => JobState::Queued,
        };
        let error = (state == JobState::Failed).then(|| TaskError {
            code: match &self.fail_code {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "providerFailed".into(),
            },
            message: self
                .fail_msg
                .clone()
                .unwrap_or_else(|| "the provider failed the job".into()),
        });
        JobStatus {
            external_id: self.task_id.clone(),
            state: state.clone(),
            progress: (state == JobState::Completed).then_some(100),
            error,
            expires_at: None,
            seconds: None,
            size: None,
            poll_after_ms: None,
        }
    }

    /// The first of `resultJson`'s `resultUrls`.
    fn result_url(&self) -> Option<String> {
        let parsed: Value = serde_json::from_str(self.result_json.as_deref()?).ok()?;
        Some(parsed["resultUrls"].get(0)?.as_str()?.to_string())
    }
}

#[async_trait]
impl Provider for CallbackClient {
    async fn create(&self, job: &CreateJob) -> ProviderResult<JobStatus> {
        self.create_with_callback(job, "").await
    }

    fn callback_base(&self) -> Option<&str> {
        Some(&self.public_url)
    }

    async fn create_with_callback(
        &self,
        job: &CreateJob,
        callback_url: &str,
    ) -> ProviderResult<JobStatus> {
        if job.input_reference.is_some() {
            return Err(ProviderError::Rejected {
                status: 400,
                code: None,
                message: "the callback provider takes text-to-video tasks only".into(),
            });
        }
        let url = format!("{}/api/v1/jobs/createTask", self.base);
        let body = json!({"model": job.model, "callBackUrl": callback_url,
            "input": {"prompt": job.prompt, "seconds": job.seconds, "size": job.size}});
        let data = self.call(self.http.post(url).json(&body)).await?;
        let id = data["taskId"].as_str().filter(|s| !s.is_empty());
        let id = id.ok_or_else(|| ProviderError::transient("answer without a taskId"))?;
        Ok(Record {
            task_id: id.into(),
            ..Record::default()
        }
        .status())
    }

    async fn status(&self, external_id: &str) -> ProviderResult<JobStatus> {
        Ok(self.record(external_id).await?.status())
    }

    /// The video from the record's first result URL (no thumbnail in this API).
    async fn download(&self, external_id: &str, variant: Variant) -> ProviderResult<Download> {
        if variant == Variant::Thumbnail {
            return Err(ProviderError::Unsupported);
        }
        let record = self.record(external_id).await?;
        let url = record
            .result_url()
            .ok_or_else(|| ProviderError::transient("no result URL"))?;
        let resp = self
            .http
            .get(url)
            .timeout(self.cfg.download_timeout)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| ProviderError::transient(format!("download failed: {e}")))?;
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

    fn content_url(&self, _external_id: &str, _variant: Variant) -> Option<String> {
        None
    }

    fn max_call_ms(&self) -> u64 {
        self.cfg.timeout.as_millis() as u64 + 1_000
    }

    fn max_download_ms(&self) -> u64 {
        self.cfg.timeout.as_millis() as u64 + self.cfg.download_timeout.as_millis() as u64
    }
}
