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
        let state = AppState {
            jwt: JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl_secs),
            settings: Arc::new(settings),
            store,
            bus,
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
        axum::serve(self.listener, app)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        state.store.close().await;
        Ok(())
    }
}
