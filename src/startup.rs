//! Building and running the application: bind first, expose the port, run until a shutdown
//! future resolves. Tests build it on `127.0.0.1:0` and talk to the real socket.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::memory::MemoryBus;
use crate::bus::redis::RedisBus;
use crate::bus::Bus;
use crate::config::Settings;
use crate::hub::Hub;
use crate::state::AppState;
use crate::store::Store;

pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    /// Connects the store (migrating it), the bus, and binds the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        settings.ensure_jwt_secret()?;
        let store = Store::connect(&settings.database_url(), settings.db_max_connections).await?;
        store.migrate().await?;
        let shutdown = CancellationToken::new();
        let bus: Arc<dyn Bus> = match settings.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Arc::new(RedisBus::connect(url, shutdown.clone()).await?),
            None => Arc::new(MemoryBus::default()),
        };
        let jwt = JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl_secs);
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
        let state = AppState {
            jwt,
            hub,
            settings: Arc::new(settings),
            store,
            bus,
            shutdown,
        };
        Ok(Self {
            listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets requests finish, tells
    /// every socket to reconnect elsewhere (`reconnect`, close 1012) and waits up to the
    /// grace period for them to go.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let token = state.shutdown.clone();
        let app = crate::routes::router(state.clone());
        tokio::spawn({
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        });
        // Frames are batched by the hub itself; Nagle would only add latency.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        let grace = Duration::from_millis(state.settings.hub.shutdown_grace_ms);
        if !state.hub.drain(grace).await {
            tracing::warn!(
                open = state.hub.live_sockets(),
                "sockets still open after the shutdown grace period"
            );
        }
        state.store.close().await;
        Ok(())
    }
}
