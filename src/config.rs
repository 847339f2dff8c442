//! One `Settings` struct for the whole service: defaults < `taskhub.toml` < environment.
//!
//! Secrets (`JWT_SECRET`, provider and Stripe keys) are wrapped in [`Secret`], whose `Debug`
//! and `Display` print `[redacted]`, so a settings dump in a log can never leak them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A string that never shows itself in `Debug` or `Display` output.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "[unset]"
        } else {
            "[redacted]"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

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
    /// Database pool size.
    pub db_max_connections: u32,
    /// Log format: `pretty` or `json`.
    pub log_format: String,
    /// Which provider drives tasks: `simulator` (built in) or `openai` (OPENAI_BASE_URL).
    pub provider: String,
    /// Where `test-pages/` and `clients/js/` live (default: the source checkout).
    pub assets_dir: Option<PathBuf>,
    /// Let development (test login, private URLs, local payments) listen beyond loopback.
    pub allow_public_dev: bool,
    /// Plans, prices, credits, packages, Stripe, API keys.
    #[serde(flatten)]
    pub billing: crate::billing::BillingSettings,
    /// Poller, providers, media and webhooks.
    #[serde(flatten)]
    pub poller: crate::tasks::settings::PollerSettings,
    /// WebSocket hub, bus refill and shutdown settings.
    #[serde(flatten)]
    pub hub: crate::hub::HubSettings,
    /// HTTP timeouts, connection cap, lingering close, rate limits, hashing queue.
    #[serde(flatten)]
    pub http: crate::http::HttpSettings,
    /// Metrics endpoint settings.
    #[serde(flatten)]
    pub ops: crate::ops::OpsSettings,
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
            db_max_connections: 10,
            log_format: "pretty".into(),
            assets_dir: None,
            provider: "simulator".into(),
            allow_public_dev: false,
            billing: Default::default(),
            poller: Default::default(),
            hub: Default::default(),
            http: Default::default(),
            ops: Default::default(),
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
const UNPREFIXED: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
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

/// Shown by `taskhub serve --help`; keep in step with `.env.example` and the README table.
pub const SETTINGS_HELP: &str = "\
Settings (defaults < taskhub.toml or TASKHUB_CONFIG file < environment; .env is read if present):
  TASKHUB_ADDR                    listen address [127.0.0.1:8080]; port 0 picks a free port
  TASKHUB_DATA_DIR                SQLite file, dev JWT secret, uploads, media [./data]
  DATABASE_URL                    sqlite://… or postgres://… [sqlite file in the data dir]
  REDIS_URL                       redis://… for several nodes [unset: in-process bus]
  JWT_SECRET                      HS256 key; production needs >= 32 chars [dev: generated, kept in data dir]
  TASKHUB_ENV                     development | production [development]
  TASKHUB_ACCESS_TOKEN_TTL_SECS   access token lifetime [900]
  TASKHUB_REFRESH_TOKEN_TTL_SECS  refresh token lifetime [2592000]
  TASKHUB_MAX_PROMPT_CHARS        longest prompt [32000]
  TASKHUB_MAX_BODY_BYTES          largest JSON body [262144]
  TASKHUB_MAX_UPLOAD_BYTES        largest image upload [10485760]
  TASKHUB_TEST_PAGES              serve /test-pages/ and /clients/js/ [on in development]
  TASKHUB_ASSETS_DIR              folder holding test-pages/ and clients/ [the source checkout]
  TASKHUB_DB_MAX_CONNECTIONS      database pool size [10]
  TASKHUB_LOG_FORMAT              pretty | json [pretty]; RUST_LOG filters
  TASKHUB_PROVIDER                simulator | openai [simulator]
  TASKHUB_POLLER                  run the poller on this node [true]
  TASKHUB_POLL_INTERVAL_MS        base interval between polls of a task; provider hints win [2000]
  TASKHUB_POLL_MAX_INTERVAL_MS    longest interval (tasks that run long slow down) [30000]
  TASKHUB_POLLER_TICK_MS          how often an idle poller looks for due tasks [200]
  TASKHUB_POLLER_BATCH            tasks claimed per round [64]
  TASKHUB_POLLER_CONCURRENCY      tasks driven at once per node [32]
  TASKHUB_LEASE_MS                claim length; a dead node's tasks are taken over after it [180000]
  TASKHUB_TASK_DEADLINE_SECS      open tasks older than this fail with `timeout` [1800]
  TASKHUB_SIMULATOR_SECONDS       duration of a simulated job; [slow] x10 [10]
  OPENAI_BASE_URL                 OpenAI-compatible videos API root [https://api.openai.com/v1]
  OPENAI_API_KEY                  its key [unset]
  TASKHUB_PROVIDER_TIMEOUT_MS     time limit of each provider call [30000]
  TASKHUB_PROVIDER_DOWNLOAD_TIMEOUT_MS  time limit of one content download [300000]
  TASKHUB_PROVIDER_MAX_RETRIES    retries on 429/5xx/timeouts, with backoff and jitter [3]
  TASKHUB_PROVIDER_RETRY_BASE_MS  first backoff, doubling [500]
  TASKHUB_PROVIDER_MAX_RETRY_WAIT_MS  longest in-call wait; longer Retry-After reschedules [10000]
  TASKHUB_MEDIA_COPY              copy finished videos into the data dir [true]
  TASKHUB_MEDIA_MAX_BYTES         largest file copied from a provider [1073741824]
  TASKHUB_MEDIA_BASE_URL          prefix of media URLs, e.g. https://hub.example.com [relative]
  TASKHUB_MEDIA_URL_TTL_SECS      how long a media URL works after a task is read [3600]
  TASKHUB_WEBHOOK_TIMEOUT_MS      time limit of one webhook delivery [10000]
  TASKHUB_WEBHOOK_SECRET          signs webhook bodies (X-Taskhub-Signature) [unset]
  TASKHUB_ALLOW_PRIVATE_URLS      webhooks/reference images may reach private addresses [dev only]
  TASKHUB_MODELS                  model list as TOML/JSON, e.g. in taskhub.toml [[models]] [sora-2, sora-2-pro]
  TASKHUB_ALLOW_PUBLIC_DEV        let development listen on a non-loopback address [false]
  TASKHUB_SIMULATOR_DELETED_BYTES memory budget of the simulator's deleted-id set [1048576]
  TASKHUB_REFERENCE_FETCH_TIMEOUT_MS  time limit of fetching referenceImageUrl at creation [10000]
  TASKHUB_UPLOAD_SWEEP_INTERVAL_SECS  how often uploads no task refers to are removed [3600]
  TASKHUB_UPLOAD_ORPHAN_GRACE_SECS    age before an upload no task refers to is removed [3600]
Billing:
  TASKHUB_SIGNUP_BONUS_CREDITS    credits for every new user [100]
  TASKHUB_SIGNUP_BONUS_DAYS       days until the signup bonus expires, 0 never [30]
  TASKHUB_PURCHASED_CREDIT_DAYS   days until purchased credits expire, 0 never [90]
  TASKHUB_REFUND_GRACE_DAYS       refunded task credits stay usable at least this long [7]
  TASKHUB_GENERATING_PLANS        plans allowed to generate; the seed's rule is basic,pro [free,basic,pro]
  TASKHUB_FREE_MONTHLY_CREDITS    credits granted with the free plan [0]
  TASKHUB_BASIC_MONTHLY_CREDITS   credits granted with the basic plan [500]
  TASKHUB_PRO_MONTHLY_CREDITS     credits granted with the pro plan [2000]
  TASKHUB_PRICE_TEXT_STANDARD     credits per text-to-video task, standard quality [20]
  TASKHUB_PRICE_TEXT_HD           credits per text-to-video task, hd [30]
  TASKHUB_PRICE_IMAGE_STANDARD    credits per image-to-video task, standard [25]
  TASKHUB_PRICE_IMAGE_HD          credits per image-to-video task, hd [35]
  TASKHUB_PAYMENT_CURRENCY        currency of the credit packages [CNY]
  TASKHUB_CREDIT_PACKAGES         packages as [[credit_packages]] in taskhub.toml [trial, standard, value, premium]
  STRIPE_API_BASE                 Stripe API root [https://api.stripe.com]
  STRIPE_SECRET_KEY               Stripe secret key [unset: payments answer 503 paymentsNotConfigured]
  STRIPE_WEBHOOK_SECRET           webhook signing secret (whsec_...) [unset: webhook answers 503]
  TASKHUB_STRIPE_WEBHOOK_TOLERANCE_SECS  accepted Stripe-Signature age [300]
  TASKHUB_API_KEYS                accept X-API-Key and offer /api/users/api-keys [true]
  TASKHUB_CREDIT_SWEEP_INTERVAL_SECS  how often expired credits are swept [60]
  TASKHUB_PAYMENT_RETURN_ORIGINS  origins returnUrl may use, comma-separated [dev: loopback; production: none]
  TASKHUB_REFRESH_TOKEN_RETENTION_DAYS  delete refresh tokens expired/revoked this long ago [30]
  TASKHUB_WEBHOOK_EVENT_RETENTION_DAYS  delete processed Stripe event ids this old (min 4) [30]
  TASKHUB_PRUNE_INTERVAL_SECS     how often the two deletions above run [3600]
WebSocket hub:
  TASKHUB_WS_HEARTBEAT_INTERVAL_MS  WS ping interval; two missed pings drop the peer [25000]
  TASKHUB_WS_AUTH_TIMEOUT_MS      time a socket may stay unauthenticated [10000]
  TASKHUB_WS_MAX_FRAME_BYTES      largest inbound frame; bigger closes with 1009 [16384]
  TASKHUB_WS_MAX_SUBSCRIPTIONS    task subscriptions per socket [200]
  TASKHUB_WS_MAX_SOCKETS_PER_USER authenticated sockets per user per node [20]
  TASKHUB_WS_MAX_FRAMES_PER_SEC   inbound frames per second per socket (bursts: 2x, or subscriptions+10) [20]
  TASKHUB_WS_OUTBOUND_QUEUE       frames queued per socket before it is closed with 4002 [512]
  TASKHUB_WS_COALESCE_PROGRESS    replace a queued progress frame by the task's newer one [true]
  TASKHUB_WS_WRITE_TIMEOUT_MS     a write that takes longer drops the socket [15000]
  TASKHUB_WS_READ_BUFFER_BYTES    per-socket read buffer [1024]
  TASKHUB_WS_WRITE_BUFFER_BYTES   bytes buffered before a write when a socket has a backlog [4096]
  TASKHUB_WS_RECONNECT_AFTER_MS   retryAfterMs in the reconnect frame sent on shutdown [1000]
  TASKHUB_WS_MAX_UNAUTHENTICATED  sockets not yet authenticated, per node; more close with 1013 [1024]
  TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP  the same per peer address (IPv6: /64); 0 = off [32]
  TASKHUB_WS_MAX_CURSORS          per-socket delivery cursors before the least active are forgotten [1024]
  TASKHUB_WS_LINGER_MS            after a refusal, how long input is read and discarded before closing [2000]
  TASKHUB_WS_LINGER_BYTES         ...and how many bytes at most [1048576]
  TASKHUB_SHUTDOWN_GRACE_MS       on SIGTERM/ctrl-c, how long sockets get to close [10000]
  TASKHUB_BUS_RESYNC_MARGIN_MS    after a bus drop, refill events from this long before it [5000]
HTTP limits:
  TASKHUB_HTTP_HEADER_TIMEOUT_MS  a request head must arrive in this time; also closes idle keep-alive [10000]
  TASKHUB_HTTP_BODY_TIMEOUT_MS    longest gap between request body chunks; then 408 [10000]
  TASKHUB_HTTP_REQUEST_TIMEOUT_MS a handler must answer in this time; 408 (body still arriving) or 503 [60000]
  TASKHUB_HTTP_MAX_CONNECTIONS    open HTTP connections incl. WebSockets; more get 503 busy [10000]
  TASKHUB_HTTP_LINGER_MS          after closing, keep reading what the client sends this long [5000]
  TASKHUB_HTTP_LINGER_MAX_BYTES   ... and at most this many bytes [16777216]
  TASKHUB_RATE_AUTH_PER_MIN       register/login/refresh per minute per IP; 0 off [5]
  TASKHUB_RATE_TASK_CREATE_PER_MIN  task creations and retries per minute per user; 0 off [10]
  TASKHUB_RATE_TASK_QUERY_PER_MIN GET /api/video/tasks... per minute per user; 0 off [60]
  TASKHUB_RATE_OTHER_PER_MIN      other /api requests per minute per user (or IP); 0 off [30]
  TASKHUB_TRUSTED_PROXIES         proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For counts [empty]
  TASKHUB_HASH_QUEUE_TIMEOUT_MS   longest wait for a password-hashing slot; then 503 busy [2000]
  TASKHUB_HASH_QUEUE_MAX          requests waiting for a hashing slot; more get 503 busy [64]
Operations:
  TASKHUB_METRICS                 serve GET /metrics (Prometheus, no auth); false closes it [true]
  TASKHUB_METRICS_ADDR            serve /metrics on this address instead of the main listener [unset]
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Settings {
            jwt_secret: Secret::new("fake-secret-do-not-print"),
            ..Settings::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("fake-secret-do-not-print"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn production_refuses_a_weak_secret() {
        let mut s = Settings {
            env: Environment::Production,
            jwt_secret: Secret::new("short"),
            ..Settings::default()
        };
        assert!(s.ensure_jwt_secret().is_err());
        s.jwt_secret = Secret::new("x".repeat(40));
        assert!(s.ensure_jwt_secret().is_ok());
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "addr = \"127.0.0.1:9000\"\nmax_prompt_chars = 10\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("TASKHUB_MAX_PROMPT_CHARS", "20");
            let s: Settings = Settings::figment(&file).extract()?;
            assert_eq!(s.addr.port(), 9000);
            assert_eq!(s.max_prompt_chars, 20);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn poller_settings_come_from_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("none.toml");
        figment::Jail::expect_with(|jail| {
            jail.set_env("TASKHUB_POLLER", "false");
            jail.set_env("TASKHUB_SIMULATOR_SECONDS", "2");
            jail.set_env("TASKHUB_POLL_INTERVAL_MS", "750");
            jail.set_env("TASKHUB_MEDIA_COPY", "false");
            jail.set_env("TASKHUB_MEDIA_BASE_URL", "https://cdn.example.com");
            jail.set_env("OPENAI_BASE_URL", "https://gateway.example.com/v1");
            jail.set_env("OPENAI_API_KEY", "123456");
            let s: Settings = Settings::figment(&file).extract()?;
            let p = &s.poller;
            assert!(!p.enabled);
            assert_eq!(p.simulator_seconds, 2.0);
            assert_eq!(p.poll_interval_ms, 750);
            assert!(!p.media_copy);
            assert_eq!(p.media_base_url.as_deref(), Some("https://cdn.example.com"));
            assert_eq!(p.openai_base_url, "https://gateway.example.com/v1");
            assert_eq!(p.openai_api_key.expose(), "123456");
            assert!(!format!("{s:?}").contains("123456"));
            Ok(())
        });
    }
}
