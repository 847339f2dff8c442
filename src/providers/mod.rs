//! Video providers: the [`Provider`] trait the poller drives, the OpenAI-compatible HTTP
//! client ([`openai`]), the built-in [`simulator`] service that speaks the same wire format,
//! the callback-style reseller client ([`callback`]), and [`Providers`], the registry of the ones configured on this node.
//!
//! Provider statuses map onto ours (PROTOCOL §2) in [`JobState`]; a status we do not know is
//! logged and treated as still running.

pub mod callback;
pub mod openai;
pub mod settings;
pub mod simulator;
mod wire;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use self::settings::{ProviderKind, ProviderSettings};
use crate::domain::lifecycle::TaskError;

/// A job to create at a provider.
#[derive(Clone, Debug)]
pub struct CreateJob {
    pub model: String,
    pub prompt: String,
    pub seconds: i64,
    pub size: String,
    /// Image-to-video: the reference image, sent as the `input_reference` file.
    pub input_reference: Option<InputImage>,
}

#[derive(Clone, Debug)]
pub struct InputImage {
    pub bytes: Bytes,
    pub file_name: String,
    pub mime: String,
}

/// Where a provider's job stands, in our terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Completed,
    Failed,
}

/// A provider's answer about one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobStatus {
    pub external_id: String,
    pub state: JobState,
    /// 0..=100 when the provider reports it.
    pub progress: Option<u8>,
    /// The provider's error for a failed job.
    pub error: Option<TaskError>,
    /// When the provider deletes the content (Unix ms).
    pub expires_at: Option<i64>,
    pub seconds: Option<i64>,
    pub size: Option<String>,
    /// The provider's hint for when to ask again (`openai-poll-after-ms`).
    pub poll_after_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Video,
    Thumbnail,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Video => "video",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// A content download: its type as the provider states it, its length if known, its bytes.
pub struct Download {
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub body: ByteStream,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused (4xx other than 429): the task fails with this message.
    #[error("provider rejected the request ({status}): {message}")]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Worth trying again later (429, 5xx, timeouts, connection errors, bad answers);
    /// `retry_after_ms` when the provider said how long to wait.
    #[error("provider temporarily unavailable: {message}")]
    Transient {
        message: String,
        retry_after_ms: Option<u64>,
    },
    /// The provider cannot do this (e.g. cancel).
    #[error("not supported by this provider")]
    Unsupported,
}

impl crate::ops::metrics::CallOutcome for ProviderError {
    fn outcome(&self) -> &'static str {
        match self {
            ProviderError::Rejected { .. } => "rejected",
            ProviderError::Transient { .. } => "transient",
            ProviderError::Unsupported => "unsupported",
        }
    }
}

impl ProviderError {
    pub fn transient(message: impl Into<String>) -> Self {
        ProviderError::Transient {
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Creates a job: JSON for text-to-video, multipart with `input_reference` otherwise.
    async fn create(&self, job: &CreateJob) -> ProviderResult<JobStatus>;
    async fn status(&self, external_id: &str) -> ProviderResult<JobStatus>;
    /// Where this provider's per-task callbacks should reach us (this server's public URL),
    /// for providers that call back; `None` for the others.
    fn callback_base(&self) -> Option<&str> {
        None
    }
    /// Creates a job whose provider calls `callback_url` when it ends (providers with a
    /// [`Provider::callback_base`]).
    async fn create_with_callback(
        &self,
        job: &CreateJob,
        _callback_url: &str,
    ) -> ProviderResult<JobStatus> {
        self.create(job).await
    }
    /// Creates a job that remixes the finished job `source_external_id` with `job.prompt`
    /// (the OpenAI Videos API's `POST /videos/{id}/remix`).
    async fn remix(
        &self,
        _source_external_id: &str,
        _job: &CreateJob,
    ) -> ProviderResult<JobStatus> {
        Err(ProviderError::Unsupported)
    }
    /// Streams a finished job's video or thumbnail.
    async fn download(&self, external_id: &str, variant: Variant) -> ProviderResult<Download>;
    /// Cancels or deletes the job where the provider supports it.
    async fn cancel(&self, _external_id: &str) -> ProviderResult<()> {
        Err(ProviderError::Unsupported)
    }
    /// A URL a browser can fetch the content from without our help, if there is one
    /// (used when media copying is off).
    fn content_url(&self, external_id: &str, variant: Variant) -> Option<String>;
    /// Worst-case time of one call, retries included (the poller's lease must cover it).
    fn max_call_ms(&self) -> u64;
    /// Worst-case time of one content download.
    fn max_download_ms(&self) -> u64 {
        self.max_call_ms()
    }
}

/// The providers configured on this node, by the name stored in `tasks.provider`.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn Provider>>,
}

impl Providers {
    pub fn with(mut self, name: &str, provider: Arc<dyn Provider>) -> Self {
        self.by_name.insert(name.to_string(), provider);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// `simulator` (reached over HTTP at `self_url`, this node's own address) always, and
    /// `openai` when it is the chosen provider or has a key.
    pub fn from_settings(p: &ProviderSettings, self_url: &str) -> anyhow::Result<Self> {
        let config = openai::ClientConfig::from_settings(p);
        let simulator = openai::OpenAiClient::new(
            &format!("{self_url}{}", simulator::MOUNT_V1),
            None,
            config.clone(),
        )?;
        let mut providers =
            Providers::default().with(ProviderKind::Simulator.as_str(), Arc::new(simulator));
        if p.provider == ProviderKind::OpenAi || !p.openai_api_key.is_empty() {
            if p.openai_api_key.is_empty() {
                tracing::warn!(
                    "TASKHUB_PROVIDER=openai without OPENAI_API_KEY: calls will be unauthenticated"
                );
            }
            let key = Some(p.openai_api_key.clone()).filter(|k| !k.is_empty());
            let client = openai::OpenAiClient::new(&p.openai_base_url, key, config.clone())?;
            providers = providers.with(ProviderKind::OpenAi.as_str(), Arc::new(client));
        }
        if p.provider == ProviderKind::Callback || !p.callback_api_base.is_empty() {
            // Unset base: this node's simulator (development); unset public URL: this node.
            let base = match p.callback_api_base.as_str() {
                "" => format!("{self_url}{}", simulator::MOUNT_RESELLER),
                b => b.to_string(),
            };
            let public = Some(p.public_url.as_str()).filter(|u| !u.is_empty());
            let key = Some(p.callback_api_key.clone()).filter(|k| !k.is_empty());
            let client =
                callback::CallbackClient::new(&base, key, public.unwrap_or(self_url), config)?;
            providers = providers.with(ProviderKind::Callback.as_str(), Arc::new(client));
        }
        Ok(providers)
    }
}
