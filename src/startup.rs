//! Building and running the application: bind first, expose the port, run until a shutdown
//! future resolves. Tests build it on `127.0.0.1:0` and talk to the real socket.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::memory::MemoryBus;
use crate::bus::redis::RedisBus;
use crate::bus::Bus;
use crate::config::Settings;
use crate::hub::Hub;
use crate::media::settings::MediaDelivery;
use crate::media::{MediaStore, MediaUrls};
use crate::providers::Providers;
use crate::state::AppState;
use crate::store::Store;
use crate::tasks::outbound::Outbound;
use crate::tasks::services::VideoServices;
use crate::tasks::webhook::Webhooks;
use crate::tasks::{TaskContext, TaskSettings};

pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    /// `TASKHUB_METRICS_ADDR`'s listener, when set.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Connects the store (migrating it), the bus, and binds the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings.check_exposure()?;
        crate::auth::password::return_hash_memory_to_os();
        settings.ensure_jwt_secret()?;
        crate::http::client_ip::TrustedProxies::parse(&settings.http.trusted_proxies)?;
        crate::http::cors::CorsPolicy::new(&settings.cors, settings.is_production())?;
        settings.compat_sora2.checked_prefix()?;
        let mut store = Store::connect(&settings.database_url(), settings.db_pool_size()).await?;
        store.set_refund_grace_ms(settings.billing.refund_grace_ms());
        store.set_media_urls(media_urls(&settings));
        store.migrate().await?;
        let shutdown = CancellationToken::new();
        let bus: Arc<dyn Bus> = match settings.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Arc::new(RedisBus::connect(url, shutdown.clone()).await?),
            None => Arc::new(MemoryBus::default()),
        };
        let jwt = JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl_secs)?;
        let hub = Hub::new(
            settings.hub.clone(),
            store.clone(),
            bus.clone(),
            jwt.clone(),
            shutdown.clone(),
        );
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = crate::http::admin::bind(&settings.ops).await?;
        let self_url = self_url(listener.local_addr()?);
        let video = Arc::new(video_services(&settings, &self_url)?);
        let google = Arc::new(google_auth(&settings, &self_url));
        let tasks = TaskContext {
            settings: Arc::new(TaskSettings {
                poller: settings.poller.clone(),
                uploads: settings.uploads.clone(),
                media_copy: settings.media.media_copy,
                billing: settings.billing.clone(),
                provider: settings.providers.provider,
                data_dir: settings.data_dir.clone(),
                storage: video.media.storage().clone(),
                max_upload_bytes: settings.max_upload_bytes,
            }),
            store: store.clone(),
            bus: bus.clone(),
            video: video.clone(),
            shutdown: shutdown.clone(),
        };
        let payments = crate::billing::service::Payments::new(
            store.clone(),
            settings.billing.clone(),
            settings.is_production(),
        );
        let state = AppState {
            payments,
            jwt,
            hub,
            settings: Arc::new(settings),
            store,
            bus,
            video,
            tasks,
            google,
            shutdown,
        };
        Ok(Self {
            listener,
            port,
            state,
            metrics_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where this node answers: its listener's address (127.0.0.1 or ::1 when it listens
    /// on every address).
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self_url(self.listener.local_addr()?))
    }

    /// The port of the separate metrics listener, when `TASKHUB_METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        let addr = self.metrics_listener.as_ref()?.local_addr().ok()?;
        Some(addr.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests finish, tells
    /// every socket to reconnect elsewhere (`reconnect`, close 1012) and waits up to the
    /// grace period for them to go; HTTP connections still open then are cut.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let token = state.shutdown.clone();
        let app = crate::routes::router(state.clone());
        let b = &state.settings.billing;
        let stop = state.shutdown.clone();
        crate::billing::spawn_expiry_sweep(
            state.store.clone(),
            b.credit_sweep_interval_secs,
            stop.clone(),
        );
        crate::billing::subscriptions::spawn_lapse_sweep(state.store.clone(), b, stop.clone());
        crate::housekeeping::spawn(state.store.clone(), b.clone(), stop);
        crate::tasks::uploads::spawn_orphan_sweep(state.tasks.clone());
        let u = &state.settings.uploads;
        crate::uploads::sweep::spawn(
            (&state).into(),
            std::time::Duration::from_secs(u.upload_sweep_interval_secs),
            std::time::Duration::from_secs(u.upload_orphan_grace_secs),
            state.shutdown.clone(),
        );
        if let Some(l) = self.metrics_listener {
            crate::http::admin::spawn(l, token.clone());
        }
        tokio::spawn({
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        });
        if state.settings.webhooks.webhook_worker_enabled {
            tokio::spawn(crate::tasks::webhook::WebhookWorker::new(state.tasks.clone()).run());
        }
        let poller =
            state.settings.poller.enabled.then(|| {
                tokio::spawn(crate::tasks::poller::Poller::new(state.tasks.clone()).run())
            });
        let grace = Duration::from_millis(state.settings.hub.shutdown_grace_ms);
        let connections = crate::http::serve::accept_loop(
            self.listener,
            app,
            &state.settings.http,
            grace,
            token.clone(),
        )
        .await;
        // Sockets are told to reconnect elsewhere while the poller (stopping on the same
        // token) finishes its in-flight steps and releases its leases; both before the pool closes.
        // The poller gives in-flight steps 5 s itself; the cap only guards against a hang.
        let poller_done = async {
            if let Some(poller) = poller {
                let cap = grace + Duration::from_secs(5);
                if tokio::time::timeout(cap, poller).await.is_err() {
                    tracing::warn!("poller still running after the shutdown grace period");
                }
            }
        };
        // HTTP connections get the same grace period, then are cut: no client holds the
        // process past it.
        let (drained, http_drained, ()) = tokio::join!(
            state.hub.drain(grace),
            crate::http::serve::drain(&connections, grace),
            poller_done
        );
        if !http_drained {
            tracing::warn!(
                open = connections.len(),
                "HTTP connections still open after the shutdown grace period"
            );
        }
        if !drained {
            tracing::warn!(
                open = state.hub.live_sockets(),
                "sockets still open after the shutdown grace period"
            );
        }
        state.store.close().await;
        Ok(())
    }
}

/// How this node reaches itself (its simulator): the bound address, with an unspecified IP
/// (`0.0.0.0`, `::`) replaced by loopback.
fn self_url(addr: std::net::SocketAddr) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// Google sign-in against Google, or in development with `TASKHUB_GOOGLE_FAKE` against
/// this node's fake issuer (`/dev/fake-google`).
fn google_auth(settings: &Settings, self_url: &str) -> crate::auth::google::GoogleAuth {
    use crate::auth::google::{Endpoints, GoogleAuth};
    let g = &settings.google;
    let fake = (g.google_fake && !settings.is_production())
        .then(|| format!("{self_url}{}", crate::routes::fake_google::MOUNT));
    GoogleAuth::new(
        Endpoints::new(g, fake.as_deref()),
        g.google_jwks_min_refresh_secs,
    )
}

fn media_urls(settings: &Settings) -> MediaUrls {
    MediaUrls::new(&settings.jwt_secret, &settings.media)
}

/// Providers, media storage, webhooks and the guarded client for user URLs. `self_url` is
/// this node's own address (`http://127.0.0.1:PORT`), where its simulator is.
fn video_services(settings: &Settings, self_url: &str) -> anyhow::Result<VideoServices> {
    let outbound = Outbound::new(
        settings.private_urls_allowed(),
        std::time::Duration::from_secs(10),
    )?;
    let storage = crate::media::Storage::from_settings(&settings.media, &settings.data_dir)?;
    if settings.media.media_delivery == MediaDelivery::Presigned && !storage.is_s3() {
        anyhow::bail!("TASKHUB_MEDIA_DELIVERY=presigned needs TASKHUB_STORAGE=s3");
    }
    Ok(VideoServices {
        providers: Providers::from_settings(&settings.providers, self_url)?,
        media: MediaStore::new(storage, media_urls(settings), &settings.media),
        webhooks: Webhooks::new(&settings.webhooks, outbound.clone()),
        outbound,
    })
}
