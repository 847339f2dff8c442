//! Building and running the application: bind first, expose the port, run until a shutdown
//! future resolves. Tests build it on `127.0.0.1:0` and talk to the real socket.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::jwt::JwtKeys;
use crate::bus::memory::MemoryBus;
use crate::bus::Bus;
use crate::config::Settings;
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
        let mut store =
            Store::connect(&settings.database_url(), settings.db_max_connections).await?;
        store.set_refund_grace_ms(settings.billing.refund_grace_ms());
        store.migrate().await?;
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::default());
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        let self_url = self_url(listener.local_addr()?);
        let video = crate::tasks::services::VideoServices::new(&settings, &self_url)?;
        let state = AppState {
            jwt: JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl_secs),
            settings: Arc::new(settings),
            store,
            bus,
            video: Arc::new(video),
            shutdown: CancellationToken::new(),
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

    /// Serves until `shutdown` resolves, then stops accepting and lets requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let token = state.shutdown.clone();
        let app = crate::routes::router(state.clone());
        crate::billing::spawn_expiry_sweep(state.clone());
        tokio::spawn({
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        });
        let poller = state
            .settings
            .poller
            .enabled
            .then(|| tokio::spawn(crate::tasks::poller::Poller::new(state.clone()).run()));
        axum::serve(self.listener, app)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        if let Some(poller) = poller {
            // It stops on the same token and releases its leases before the pool closes.
            let _ = poller.await;
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
