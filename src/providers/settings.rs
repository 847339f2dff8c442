//! Settings of the providers: which one drives tasks, the OpenAI-compatible client and the
//! built-in simulator. Flattened into `config::Settings`, so every field is
//! `TASKHUB_<FIELD>` in the environment (`OPENAI_BASE_URL`, `OPENAI_API_KEY` and
//! `OPENAI_WEBHOOK_SECRET` without the prefix).

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The provider that drives new tasks (`TASKHUB_PROVIDER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ProviderKind {
    /// The built-in simulator (OpenAI wire format, mounted at `/simulator/v1`).
    #[default]
    Simulator,
    /// An OpenAI-compatible videos API at `OPENAI_BASE_URL`.
    OpenAi,
    /// A reseller API that calls back (`TASKHUB_CALLBACK_API_BASE`), see `providers::callback`.
    Callback,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Simulator,
        ProviderKind::OpenAi,
        ProviderKind::Callback,
    ];

    /// The name tasks store in their `provider` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Simulator => "simulator",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Callback => "callback",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for ProviderKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("TASKHUB_PROVIDER must be simulator, openai or callback, not `{s}`")
            })
    }
}

impl From<ProviderKind> for String {
    fn from(k: ProviderKind) -> String {
        k.as_str().to_string()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// Which provider drives tasks.
    pub provider: ProviderKind,
    /// How long a simulated job takes (`[slow]` in the prompt: ten times longer).
    pub simulator_seconds: f64,
    /// Memory budget of the simulator's deleted-id set, in bytes.
    pub simulator_deleted_bytes: usize,
    /// Where the simulator POSTs signed `video.completed`/`video.failed` webhooks when its
    /// jobs end (a path: the host the job was created at); unset: none.
    pub simulator_webhook_url: String,
    /// `whsec_…` secret the simulator signs webhooks with; unset: `OPENAI_WEBHOOK_SECRET`.
    pub simulator_webhook_secret: Secret,
    /// Simulator webhooks waiting for their job to end, at most.
    pub simulator_webhook_max_pending: usize,
    /// OpenAI-compatible API root, including `/v1`.
    pub openai_base_url: String,
    pub openai_api_key: Secret,
    /// `whsec_…` secret of OpenAI's webhooks (`POST /api/providers/openai/webhook`); unset:
    /// that route answers 503.
    pub openai_webhook_secret: Secret,
    /// Root of the callback-style reseller API (`TASKHUB_PROVIDER=callback`); unset: this
    /// node's simulator (development).
    pub callback_api_base: String,
    pub callback_api_key: Secret,
    /// This server's public URL, where providers' callbacks reach it; unset: the node's own
    /// address.
    pub public_url: String,
    /// Time limit of each provider API call (connect + answer).
    pub provider_timeout_ms: u64,
    /// Time limit of one content download.
    pub provider_download_timeout_ms: u64,
    /// Retries of a provider call answered 429/5xx (or timing out, for reads).
    pub provider_max_retries: u32,
    /// First backoff of those retries; doubles each time, with full jitter.
    pub provider_retry_base_ms: u64,
    /// Longest wait inside one call; a longer `Retry-After` reschedules the task instead.
    pub provider_max_retry_wait_ms: u64,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Simulator,
            simulator_seconds: 10.0,
            simulator_deleted_bytes: 1024 * 1024,
            simulator_webhook_url: String::new(),
            simulator_webhook_secret: Secret::default(),
            simulator_webhook_max_pending: 10_000,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_api_key: Secret::default(),
            openai_webhook_secret: Secret::default(),
            callback_api_base: String::new(),
            callback_api_key: Secret::default(),
            public_url: String::new(),
            provider_timeout_ms: 30_000,
            provider_download_timeout_ms: 300_000,
            provider_max_retries: 3,
            provider_retry_base_ms: 500,
            provider_max_retry_wait_ms: 10_000,
        }
    }
}
