//! Every settings variable with one line of help, and the help text made from them and the
//! defaults of [`Settings`] (shown by `taskhub serve --help`). The defaults come from the
//! settings structs' `Default`s only; a variable with no plain default (unset, a list, or
//! one that depends on `TASKHUB_ENV`) names what happens instead. `help_tests.rs` checks
//! this list, `.env.example` and the README's settings tables against [`defaults`].

use std::collections::BTreeMap;

use super::{Settings, UNPREFIXED};

/// One documented variable.
pub struct Doc {
    pub var: &'static str,
    /// What an unset variable means, for one without a plain default.
    pub unset: Option<&'static str>,
    pub help: &'static str,
}

const fn d(var: &'static str, help: &'static str) -> Doc {
    Doc {
        var,
        unset: None,
        help,
    }
}

const fn u(var: &'static str, unset: &'static str, help: &'static str) -> Doc {
    Doc {
        var,
        unset: Some(unset),
        help,
    }
}

/// The variables, in sections, in the order the help prints them.
#[rustfmt::skip]
pub const SECTIONS: &[(&str, &[Doc])] = &[
    ("Service", &[
        d("TASKHUB_ADDR", "listen address; port 0 picks a free port"),
        d("TASKHUB_DATA_DIR", "SQLite file, dev JWT secret, uploads, media"),
        u("DATABASE_URL", "SQLite file in the data dir", "sqlite://… or postgres://…"),
        u("REDIS_URL", "unset (in-process bus)", "redis://… for several nodes"),
        u("JWT_SECRET", "generated in development", "HS256 key; production needs >= 32 chars"),
        d("TASKHUB_ENV", "development | production"),
        d("TASKHUB_ACCESS_TOKEN_TTL_SECS", "access token lifetime"),
        d("TASKHUB_REFRESH_TOKEN_TTL_SECS", "refresh token lifetime"),
        d("TASKHUB_MAX_PROMPT_CHARS", "longest prompt"),
        d("TASKHUB_MAX_BODY_BYTES", "largest JSON body"),
        d("TASKHUB_MAX_UPLOAD_BYTES", "largest image upload"),
        u("TASKHUB_TEST_PAGES", "on in development", "serve /test-pages/ and /clients/js/"),
        u("TASKHUB_ASSETS_DIR", "the source checkout", "folder holding test-pages/ and clients/"),
        u("TASKHUB_DB_MAX_CONNECTIONS", "4 on SQLite, 10 on PostgreSQL", "database pool size"),
        d("TASKHUB_LOG_FORMAT", "pretty | json; RUST_LOG filters"),
        u("TASKHUB_MODELS", "sora-2, sora-2-pro", "model list as TOML/JSON, or [[models]] in taskhub.toml"),
        d("TASKHUB_ALLOW_PUBLIC_DEV", "let development listen on a non-loopback address"),
        u("TASKHUB_ALLOW_PRIVATE_URLS", "on in development", "webhooks/reference images may reach private addresses"),
    ]),
    ("Poller", &[
        d("TASKHUB_POLLER", "run the poller on this node"),
        d("TASKHUB_POLL_INTERVAL_MS", "base interval between polls of a task; provider hints win"),
        d("TASKHUB_POLL_MAX_INTERVAL_MS", "longest interval (tasks that run long slow down)"),
        d("TASKHUB_POLLER_TICK_MS", "how often an idle poller looks for due tasks"),
        d("TASKHUB_POLLER_BATCH", "tasks claimed per round"),
        d("TASKHUB_POLLER_CONCURRENCY", "tasks driven at once per node"),
        d("TASKHUB_LEASE_MS", "claim length; a dead node's tasks are taken over after it"),
        d("TASKHUB_TASK_DEADLINE_SECS", "open tasks older than this fail with `timeout`"),
    ]),
    ("Providers", &[
        d("TASKHUB_PROVIDER", "simulator | openai | callback"),
        d("TASKHUB_SIMULATOR_SECONDS", "duration of a simulated job; [slow] x10"),
        d("TASKHUB_SIMULATOR_DELETED_BYTES", "memory budget of the simulator's deleted-id set"),
        u("TASKHUB_SIMULATOR_WEBHOOK_URL", "unset (no webhooks)", "where the simulator POSTs signed video.completed/failed webhooks; a path: the job's host"),
        u("TASKHUB_SIMULATOR_WEBHOOK_SECRET", "unset (OPENAI_WEBHOOK_SECRET)", "whsec_… the simulator signs its webhooks with"),
        d("TASKHUB_SIMULATOR_WEBHOOK_MAX_PENDING", "simulator webhooks waiting for their job to end, at most"),
        d("OPENAI_BASE_URL", "OpenAI-compatible videos API root"),
        u("OPENAI_API_KEY", "unset", "its key"),
        u("OPENAI_WEBHOOK_SECRET", "unset", "whsec_… verifying OpenAI's video webhooks (unset: 503)"),
        u("TASKHUB_CALLBACK_API_BASE", "unset (this node's simulator)", "root of the callback-style reseller API"),
        u("TASKHUB_CALLBACK_API_KEY", "unset", "its key"),
        u("TASKHUB_PUBLIC_URL", "unset (the node's own address)", "where providers' callbacks reach this server"),
        d("TASKHUB_PROVIDER_TIMEOUT_MS", "time limit of each provider call"),
        d("TASKHUB_PROVIDER_DOWNLOAD_TIMEOUT_MS", "time limit of one content download"),
        d("TASKHUB_PROVIDER_MAX_RETRIES", "retries on 429/5xx/timeouts, with backoff and jitter"),
        d("TASKHUB_PROVIDER_RETRY_BASE_MS", "first backoff, doubling"),
        d("TASKHUB_PROVIDER_MAX_RETRY_WAIT_MS", "longest in-call wait; longer Retry-After reschedules"),
    ]),
    ("Media, webhooks and reference images", &[
        d("TASKHUB_MEDIA_COPY", "copy finished videos into the data dir"),
        d("TASKHUB_MEDIA_MAX_BYTES", "largest file copied from a provider"),
        u("TASKHUB_MEDIA_BASE_URL", "unset (relative)", "prefix of media URLs, e.g. https://hub.example.com"),
        d("TASKHUB_MEDIA_URL_TTL_SECS", "how long a media URL works after a task is read"),
        d("TASKHUB_MEDIA_DELIVERY", "node (streamed by the node) | presigned (302 to the store; S3 only)"),
        d("TASKHUB_MEDIA_PRESIGN_TTL_SECS", "how long a presigned store URL works"),
        d("TASKHUB_STORAGE", "local (the data dir) | s3: uploads, videos, thumbnails"),
        u("TASKHUB_S3_ENDPOINT", "unset (AWS)", "S3-compatible endpoint, e.g. http://127.0.0.1:9000"),
        d("TASKHUB_S3_REGION", "the bucket's region"),
        u("TASKHUB_S3_BUCKET", "unset", "the bucket (needed with TASKHUB_STORAGE=s3)"),
        u("TASKHUB_S3_ACCESS_KEY_ID", "unset", "its access key id"),
        u("TASKHUB_S3_SECRET_ACCESS_KEY", "unset", "its secret key (never logged)"),
        d("TASKHUB_S3_PATH_STYLE", "path-style addressing (MinIO-like servers); false: virtual-hosted"),
        d("TASKHUB_S3_ALLOW_HTTP", "allow a plain-http endpoint that is not loopback"),
        d("TASKHUB_WEBHOOK_TIMEOUT_MS", "time limit of one webhook delivery"),
        u("TASKHUB_WEBHOOK_SECRET", "unset", "also signs webhook bodies the old way (X-Taskhub-Signature)"),
        d("TASKHUB_WEBHOOK_WORKER_ENABLED", "run the webhook delivery worker on this node"),
        d("TASKHUB_WEBHOOK_WORKER_INTERVAL_MS", "how often the worker looks for due webhook messages"),
        d("TASKHUB_WEBHOOK_CONCURRENCY", "webhook messages delivered at once per node"),
        d("TASKHUB_WEBHOOK_LEASE_MS", "how long a claimed webhook message is hidden from other nodes"),
        d("TASKHUB_WEBHOOK_RETRY_BASE_MS", "first webhook retry delay, doubling, full jitter"),
        d("TASKHUB_WEBHOOK_RETRY_MAX_MS", "longest webhook retry delay"),
        d("TASKHUB_WEBHOOK_MAX_AGE_SECS", "undelivered webhook messages this old are given up"),
        d("TASKHUB_REFERENCE_FETCH_TIMEOUT_MS", "time limit of fetching referenceImageUrl at creation"),
        d("TASKHUB_UPLOAD_SWEEP_INTERVAL_SECS", "how often uploads no task refers to are removed"),
        d("TASKHUB_UPLOAD_ORPHAN_GRACE_SECS", "age before an upload no task refers to is removed"),
        d("TASKHUB_UPLOAD_MIN_BYTES", "smallest file POST /api/uploads accepts (422 fileTooSmall)"),
        d("TASKHUB_UPLOAD_QUOTA_BYTES", "bytes of uploads one user may keep (409 quotaExceeded)"),
        d("TASKHUB_UPLOAD_MAX_PIXELS", "largest image accepted or resized, width x height (422 imageTooLarge)"),
        d("TASKHUB_UPLOAD_FIT_CONCURRENCY", "reference images resized to the video size at once"),
    ]),
    ("Billing", &[
        d("TASKHUB_SIGNUP_BONUS_CREDITS", "credits for every new user"),
        d("TASKHUB_SIGNUP_BONUS_DAYS", "days until the signup bonus expires, 0 never"),
        d("TASKHUB_PURCHASED_CREDIT_DAYS", "days until purchased credits expire, 0 never"),
        d("TASKHUB_REFUND_GRACE_DAYS", "refunded task credits stay usable at least this long"),
        d("TASKHUB_GENERATING_PLANS", "plans allowed to generate (free, basic, pro); the seed's rule is basic,pro"),
        d("TASKHUB_FREE_MONTHLY_CREDITS", "credits granted with the free plan"),
        d("TASKHUB_BASIC_MONTHLY_CREDITS", "credits granted with the basic plan"),
        d("TASKHUB_PRO_MONTHLY_CREDITS", "credits granted with the pro plan"),
        d("TASKHUB_PRICE_TEXT_STANDARD", "credits per text-to-video task, standard quality"),
        d("TASKHUB_PRICE_TEXT_HD", "credits per text-to-video task, hd"),
        d("TASKHUB_PRICE_IMAGE_STANDARD", "credits per image-to-video task, standard"),
        d("TASKHUB_PRICE_IMAGE_HD", "credits per image-to-video task, hd"),
        d("TASKHUB_PAYMENT_CURRENCY", "currency of the credit packages"),
        u("TASKHUB_CREDIT_PACKAGES", "trial, standard, value, premium", "packages as [[credit_packages]] in taskhub.toml"),
        d("STRIPE_API_BASE", "Stripe API root"),
        u("STRIPE_SECRET_KEY", "unset", "Stripe secret key; unset: payments answer 503 paymentsNotConfigured"),
        u("STRIPE_WEBHOOK_SECRET", "unset", "webhook signing secret (whsec_...); unset: webhook answers 503"),
        d("TASKHUB_STRIPE_WEBHOOK_TOLERANCE_SECS", "accepted Stripe-Signature age"),
        d("TASKHUB_API_KEYS", "accept X-API-Key and offer /api/users/api-keys"),
        d("TASKHUB_CREDIT_SWEEP_INTERVAL_SECS", "how often expired credits are swept"),
        u("TASKHUB_PAYMENT_RETURN_ORIGINS", "unset: loopback origins in development, none in production", "origins returnUrl may use, comma-separated"),
        d("TASKHUB_REFRESH_TOKEN_RETENTION_DAYS", "delete refresh tokens expired/revoked this long ago"),
        d("TASKHUB_WEBHOOK_EVENT_RETENTION_DAYS", "delete processed Stripe event ids this old (min 4)"),
        d("TASKHUB_PRUNE_INTERVAL_SECS", "how often the two deletions above run"),
        u("STRIPE_PRICE_BASIC", "unset", "Stripe Price id (price_...) of the basic plan; unset: 503 subscriptionsNotConfigured"),
        u("STRIPE_PRICE_PRO", "unset", "Stripe Price id (price_...) of the pro plan; unset: 503 subscriptionsNotConfigured"),
        d("TASKHUB_SUBSCRIPTION_GRACE_SECS", "a Stripe plan whose paid period ended this long ago moves to free"),
    ]),
    ("WebSocket hub", &[
        d("TASKHUB_WS_HEARTBEAT_INTERVAL_MS", "WS ping interval; two missed pings drop the peer"),
        d("TASKHUB_WS_AUTH_TIMEOUT_MS", "time a socket may stay unauthenticated"),
        d("TASKHUB_WS_MAX_FRAME_BYTES", "largest inbound frame; bigger closes with 1009"),
        d("TASKHUB_WS_MAX_SUBSCRIPTIONS", "task subscriptions per socket"),
        d("TASKHUB_WS_MAX_SOCKETS_PER_USER", "authenticated sockets per user per node"),
        d("TASKHUB_WS_MAX_FRAMES_PER_SEC", "inbound frames per second per socket (bursts: 2x, or subscriptions+10)"),
        d("TASKHUB_WS_OUTBOUND_QUEUE", "frames queued per socket before it is closed with 4002"),
        d("TASKHUB_WS_COALESCE_PROGRESS", "replace a queued progress frame by the task's newer one"),
        d("TASKHUB_WS_WRITE_TIMEOUT_MS", "a write that takes longer drops the socket"),
        d("TASKHUB_WS_WRITE_BUFFER_BYTES", "bytes buffered before a write when a socket has a backlog"),
        d("TASKHUB_WS_RECONNECT_AFTER_MS", "retryAfterMs in the reconnect frame sent on shutdown"),
        d("TASKHUB_WS_MAX_UNAUTHENTICATED", "sockets not yet authenticated, per node; more close with 1013"),
        d("TASKHUB_WS_MAX_UNAUTHENTICATED_PER_IP", "the same per peer address (IPv6: /64); 0 = off"),
        d("TASKHUB_WS_MAX_CURSORS", "per-socket delivery cursors before the least active are forgotten"),
        d("TASKHUB_WS_LINGER_MS", "after a refusal, how long input is read and discarded before closing"),
        d("TASKHUB_WS_LINGER_BYTES", "...and how many bytes at most"),
        d("TASKHUB_SHUTDOWN_GRACE_MS", "on SIGTERM/ctrl-c, how long sockets get to close"),
        d("TASKHUB_BUS_RESYNC_MARGIN_MS", "after a bus drop, refill events from this long before it"),
    ]),
    ("HTTP limits", &[
        d("TASKHUB_HTTP_HEADER_TIMEOUT_MS", "a request head must arrive in this time; also closes idle keep-alive"),
        d("TASKHUB_HTTP_BODY_TIMEOUT_MS", "longest gap between request body chunks; then 408"),
        d("TASKHUB_HTTP_REQUEST_TIMEOUT_MS", "a handler must answer in this time; 408 (body still arriving) or 503"),
        d("TASKHUB_HTTP_MAX_CONNECTIONS", "open HTTP connections incl. WebSockets; more get 503 busy"),
        d("TASKHUB_HTTP_LINGER_MS", "after closing, keep reading what the client sends this long"),
        d("TASKHUB_HTTP_LINGER_MAX_BYTES", "... and at most this many bytes"),
        d("TASKHUB_RATE_AUTH_PER_MIN", "register/login/refresh per minute per IP; 0 off"),
        d("TASKHUB_RATE_TASK_CREATE_PER_MIN", "task creations and retries per minute per user; 0 off"),
        d("TASKHUB_RATE_TASK_QUERY_PER_MIN", "GET /api/video/tasks... per minute per user; 0 off"),
        d("TASKHUB_RATE_PUBLIC_PER_MIN", "public reads (GET /api/showcase/..., /api/users/recent) per minute per user (or IP); 0 off"),
        d("TASKHUB_RATE_PROVIDER_PER_MIN", "provider callbacks (/api/providers/...) per minute per sending IP; 0 off"),
        d("TASKHUB_RATE_OTHER_PER_MIN", "other /api requests per minute per user (or IP); 0 off"),
        u("TASKHUB_TRUSTED_PROXIES", "empty", "proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For counts"),
        d("TASKHUB_HASH_QUEUE_TIMEOUT_MS", "longest wait for a password-hashing slot; then 503 busy"),
        d("TASKHUB_HASH_QUEUE_MAX", "requests waiting for a hashing slot; more get 503 busy"),
    ]),
    ("Google sign-in", &[
        u("GOOGLE_CLIENT_ID", "unset: POST /api/auth/google answers 503 googleNotConfigured", "OAuth client id; ID tokens must name it as aud"),
        u("GOOGLE_CLIENT_SECRET", "unset", "OAuth client secret, for exchanging authorization codes"),
        d("GOOGLE_ISSUER", "issuer ID tokens must name (iss)"),
        d("GOOGLE_TOKEN_URL", "where authorization codes are exchanged"),
        d("GOOGLE_JWKS_URL", "the issuer's signing keys (cached; refreshed hourly)"),
        d("TASKHUB_GOOGLE_JWKS_MIN_REFRESH_SECS", "a token by an unknown key refetches the keys at most this often"),
        d("TASKHUB_GOOGLE_FAKE", "development only: fake issuer at /dev/fake-google/ for the QA page"),
    ]),
    ("Cross-origin access", &[
        u("TASKHUB_CORS_ORIGINS", "empty (same origin only)", "exact browser origins allowed to call the API and open /ws, comma-separated; * any (no credentials)"),
        d("TASKHUB_CORS_ALLOW_CREDENTIALS", "allow credentials (cookies) to listed origins; refused with * in production"),
        d("TASKHUB_CORS_MAX_AGE_SECS", "how long browsers cache a preflight answer"),
    ]),
    ("Sora 2 platform API adapter (docs/compat.md)", &[
        d("TASKHUB_COMPAT_SORA2_PREFIX", "where the adapter is mounted; must not be empty (its paths collide with the native ones)"),
        u("TASKHUB_COMPAT_SORA2_API_KEYS", "unset (no X-API-Key check)", "deployment keys accepted in X-API-Key where the reference requires one, comma-separated"),
        d("TASKHUB_COMPAT_SORA2_ESTIMATED_SECS", "estimated_time of a new task, in seconds"),
        d("TASKHUB_COMPAT_SORA2_CREDIT_VALUE", "credit_value_rmb of the packages answer"),
    ]),
    ("Operations", &[
        d("TASKHUB_METRICS", "serve GET /metrics (Prometheus, no auth); false closes it"),
        u("TASKHUB_METRICS_ADDR", "unset (main listener)", "serve /metrics on this address instead of the main listener"),
    ]),
];

/// The variable of a settings field: `addr` -> `TASKHUB_ADDR`, `redis_url` -> `REDIS_URL`.
pub fn var_of(field: &str) -> String {
    let upper = field.to_ascii_uppercase();
    if UNPREFIXED.contains(&upper.as_str()) {
        upper
    } else {
        format!("TASKHUB_{upper}")
    }
}

/// Every variable [`Settings`] reads, with its default as written in the environment, or
/// `None` for one without a plain default (unset, empty, or a list).
pub fn defaults() -> BTreeMap<String, Option<String>> {
    let value = serde_json::to_value(Settings::default()).expect("settings serialize");
    let serde_json::Value::Object(fields) = value else {
        unreachable!("Settings is a struct")
    };
    fields
        .into_iter()
        .map(|(field, v)| (var_of(&field), plain(&v)))
        .collect()
}

fn plain(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 => format!("{f:.0}"),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// The settings part of `taskhub serve --help`.
pub fn settings_help() -> String {
    let defaults = defaults();
    let mut out = String::from(
        "Settings (defaults < taskhub.toml or TASKHUB_CONFIG file < environment; \
         .env is read if present):\n",
    );
    for (title, docs) in SECTIONS {
        out.push_str(&format!("{title}:\n"));
        for doc in *docs {
            let default = match (defaults.get(doc.var), doc.unset) {
                (Some(Some(v)), _) => v.clone(),
                (_, Some(unset)) => unset.to_string(),
                (_, None) => "?".to_string(),
            };
            out.push_str(&format!("  {:<31} {} [{default}]\n", doc.var, doc.help));
        }
    }
    out
}

#[cfg(test)]
#[path = "help_tests.rs"]
mod tests;
