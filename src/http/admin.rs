//! `GET /metrics`: the Prometheus text rendering of this process's recorder. Merged into
//! the main router unless `TASKHUB_METRICS=false` or `TASKHUB_METRICS_ADDR` moves it to an
//! admin listener of its own (which serves only `/metrics`). Never behind user auth: close
//! it with the setting, or bind the admin address to a private interface.

use anyhow::Context;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ops::OpsSettings;

/// The `/metrics` route for the main router (empty when metrics are off or moved).
pub fn router<S: Clone + Send + Sync + 'static>(ops: &OpsSettings) -> Router<S> {
    if ops.metrics && ops.metrics_addr.is_none() {
        Router::new().route("/metrics", get(render))
    } else {
        Router::new()
    }
}

/// Binds the admin listener when `TASKHUB_METRICS_ADDR` is set (and metrics are on).
pub async fn bind(ops: &OpsSettings) -> anyhow::Result<Option<TcpListener>> {
    match ops.metrics_addr {
        Some(addr) if ops.metrics => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics address {addr}"))?;
            Ok(Some(listener))
        }
        _ => Ok(None),
    }
}

/// Serves `/metrics` on `listener` until `stop`.
pub fn spawn(listener: TcpListener, stop: CancellationToken) {
    let app: Router = Router::new()
        .route("/metrics", get(render))
        .layer(super::request::RequestLayer);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    });
}

/// Prometheus metrics, text format (TASKHUB_METRICS, TASKHUB_METRICS_ADDR).
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
async fn render() -> impl IntoResponse {
    crate::ops::metrics::sample_runtime();
    let body = crate::ops::metrics::handle().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
