//! One `Settings` struct for the whole service: defaults < `taskhub.toml` < environment.
//!
//! Each module owns the settings it uses (`tasks::settings::PollerSettings`,
//! `providers::settings::ProviderSettings`, `media::settings::MediaSettings`,
//! `billing::BillingSettings`, `hub::HubSettings`, ...); `Settings` composes them, flattened,
//! so every field is one variable `TASKHUB_<FIELD>` (a few without the prefix, see
//! [`UNPREFIXED`]). The defaults are those structs' `Default`s and nowhere else: the help text
//! is made from them ([`help`]), and a test checks `.env.example` and the README against them.
//!
//! Secrets (`JWT_SECRET`, provider and Stripe keys) are [`Secret`]s, whose `Debug` and
//! `Display` print `[redacted]`, so a settings dump in a log can never leak them.

pub mod help;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use self::help::settings_help;
use crate::billing::BillingSettings;
use crate::http::cors::CorsSettings;
use crate::http::HttpSettings;
use crate::hub::HubSettings;
use crate::media::settings::MediaSettings;
use crate::ops::OpsSettings;
use crate::providers::settings::ProviderSettings;
use crate::secret::Secret;
use crate::tasks::settings::{PollerSettings, UploadSettings, WebhookSettings};
use crate::telemetry::LogFormat;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// A video model users may pick, with what it allows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    pub id: String,
    pub seconds: Vec<u32>,
    pub sizes: Vec<String>,
}

/// Every setting. Field names are the lower-case form of their environment variable
/// without the `TASKHUB_` prefix (`TASKHUB_ADDR` -> `addr`); `DATABASE_URL`, `REDIS_URL`
/// and `JWT_SECRET` are read without the prefix too.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Folder for the SQLite file, the generated dev JWT secret, uploads and media.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; unset means `sqlite://{data_dir}/taskhub.db`.
    pub database_url: Option<String>,
    /// Unset means the in-process bus (single node).
    pub redis_url: Option<String>,
    pub jwt_secret: Secret,
    pub env: Environment,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Largest accepted prompt, in characters.
    pub max_prompt_chars: usize,
    /// Largest accepted JSON body, in bytes (multipart uploads have their own limit).
    pub max_body_bytes: usize,
    /// Largest accepted image upload, in bytes.
    pub max_upload_bytes: usize,
    pub models: Vec<ModelSpec>,
    /// Serve `/test-pages/` and `/clients/js/` (default: on in development only).
    pub test_pages: Option<bool>,
    /// Database pool size (default: [`crate::store::Dialect::default_pool_size`], 4 on SQLite
    /// and 10 on PostgreSQL).
    pub db_max_connections: Option<u32>,
    /// Log format: `pretty` or `json`.
    pub log_format: LogFormat,
    /// Where `test-pages/` and `clients/js/` live (default: the source checkout).
    pub assets_dir: Option<PathBuf>,
    /// Let development (test login, private URLs, local payments) listen beyond loopback.
    pub allow_public_dev: bool,
    /// Let webhooks and reference-image fetches reach loopback/private addresses
    /// (default: only in development); see [`Settings::private_urls_allowed`].
    pub allow_private_urls: Option<bool>,
    /// Plans, prices, credits, packages, Stripe, API keys.
    #[serde(flatten)]
    pub billing: BillingSettings,
    /// The poller: intervals, batches, leases, the task deadline.
    #[serde(flatten)]
    pub poller: PollerSettings,
    /// Which provider, the OpenAI-compatible client, the simulator.
    #[serde(flatten)]
    pub providers: ProviderSettings,
    /// Copying finished videos, signed media URLs.
    #[serde(flatten)]
    pub media: MediaSettings,
    /// Webhook deliveries.
    #[serde(flatten)]
    pub webhooks: WebhookSettings,
    /// Reference images: fetching, orphan sweeps.
    #[serde(flatten)]
    pub uploads: UploadSettings,
    /// WebSocket hub, bus refill and shutdown settings.
    #[serde(flatten)]
    pub hub: HubSettings,
    /// HTTP timeouts, connection cap, lingering close, rate limits, hashing queue.
    #[serde(flatten)]
    pub http: HttpSettings,
    /// Metrics endpoint settings.
    #[serde(flatten)]
    pub ops: OpsSettings,
    /// Google sign-in: client, issuer endpoints, the development fake issuer.
    #[serde(flatten)]
    pub google: crate::auth::google_settings::GoogleSettings,
    /// Cross-origin browser access (REST and WebSocket).
    #[serde(flatten)]
    pub cors: CorsSettings,
    /// The Sora 2 platform API adapter: prefix, deployment API keys, estimates.
    #[serde(flatten)]
    pub compat_sora2: crate::compat::sora2::settings::Sora2Settings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            jwt_secret: Secret::default(),
            env: Environment::Development,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            max_prompt_chars: 32_000,
            max_body_bytes: 256 * 1024,
            max_upload_bytes: 10 * 1024 * 1024,
            models: default_models(),
            test_pages: None,
            db_max_connections: None,
            log_format: LogFormat::Pretty,
            assets_dir: None,
            allow_public_dev: false,
            allow_private_urls: None,
            billing: Default::default(),
            poller: Default::default(),
            providers: Default::default(),
            media: Default::default(),
            webhooks: Default::default(),
            uploads: Default::default(),
            hub: Default::default(),
            http: Default::default(),
            ops: Default::default(),
            google: Default::default(),
            cors: Default::default(),
            compat_sora2: Default::default(),
        }
    }
}

/// Sora 2 defaults: `sora-2` in portrait/landscape 720p, `sora-2-pro` adds the tall/wide sizes.
pub fn default_models() -> Vec<ModelSpec> {
    let base = ["720x1280", "1280x720"];
    let pro = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
    vec![
        ModelSpec {
            id: "sora-2".into(),
            seconds: vec![4, 8, 12],
            sizes: base.iter().map(|s| s.to_string()).collect(),
        },
        ModelSpec {
            id: "sora-2-pro".into(),
            seconds: vec![4, 8, 12],
            sizes: pro.iter().map(|s| s.to_string()).collect(),
        },
    ]
}

/// Variables read without the `TASKHUB_` prefix.
pub const UNPREFIXED: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PRICE_BASIC",
    "STRIPE_PRICE_PRO",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_WEBHOOK_SECRET",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "GOOGLE_ISSUER",
    "GOOGLE_TOKEN_URL",
    "GOOGLE_JWKS_URL",
];

impl Settings {
    /// Defaults, then `taskhub.toml` (or `TASKHUB_CONFIG`) if present, then the environment.
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("TASKHUB_CONFIG").unwrap_or_else(|_| "taskhub.toml".into());
        Self::figment(Path::new(&file))
            .extract()
            .context("invalid settings")
    }

    fn figment(file: &Path) -> Figment {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("TASKHUB_").ignore(&["CONFIG"]))
            .merge(Env::raw().only(UNPREFIXED))
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Development turns on test login, private-address URLs and local payments, so it
    /// listens on loopback only (127.0.0.0/8, ::1) unless `TASKHUB_ALLOW_PUBLIC_DEV` says so.
    pub fn check_exposure(&self) -> anyhow::Result<()> {
        if self.is_production() || self.allow_public_dev || self.addr.ip().is_loopback() {
            return Ok(());
        }
        bail!(
            "refusing to listen on {} in development: test login, private-address URLs and \
             local payments would be public; set TASKHUB_ENV=production, listen on 127.0.0.1, \
             or set TASKHUB_ALLOW_PUBLIC_DEV=true",
            self.addr
        )
    }

    /// Whether webhooks and reference images may reach loopback/private addresses.
    pub fn private_urls_allowed(&self) -> bool {
        self.allow_private_urls.unwrap_or(!self.is_production())
    }

    pub fn test_pages_enabled(&self) -> bool {
        self.test_pages.unwrap_or(!self.is_production())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("taskhub.db").display()
            ),
        }
    }

    /// The database pool's size: `db_max_connections`, or the store's own default.
    pub fn db_pool_size(&self) -> u32 {
        self.db_max_connections.unwrap_or_else(|| {
            let dialect = self.database_url().parse::<crate::store::Dialect>();
            dialect.map_or(10, crate::store::Dialect::default_pool_size)
        })
    }

    pub fn assets_dir(&self) -> PathBuf {
        self.assets_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
    }

    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Makes sure a usable JWT secret exists. Production refuses weak or missing secrets;
    /// development generates one once and keeps it in the data dir so tokens survive restarts.
    pub fn ensure_jwt_secret(&mut self) -> anyhow::Result<()> {
        const MIN_LEN: usize = 32;
        if self.is_production() {
            if self.jwt_secret.expose().len() < MIN_LEN {
                bail!("TASKHUB_ENV=production needs JWT_SECRET of at least {MIN_LEN} characters");
            }
            return Ok(());
        }
        if !self.jwt_secret.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data dir {}", self.data_dir.display()))?;
        let path = self.data_dir.join("jwt_secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) if s.trim().len() >= MIN_LEN => {
                crate::secret_file::restrict(&path)?;
                s.trim().to_string()
            }
            _ => {
                let s = crate::auth::random_token(48);
                crate::secret_file::write(&path, &s)?;
                tracing::warn!(path = %path.display(), "JWT_SECRET unset: generated a development secret and stored it in the data dir");
                s
            }
        };
        self.jwt_secret = Secret::new(secret);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
