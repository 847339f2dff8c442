//! Operating a node: Prometheus metrics ([`metrics`]) and their settings. The request layer
//! (request ids, spans, HTTP metrics) and the admin listener that serves `/metrics` apart
//! are part of the HTTP edge: [`crate::http::request`], [`crate::http::admin`].

pub mod metrics;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Metrics settings (flattened into `Settings`; env `TASKHUB_<FIELD>`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct OpsSettings {
    /// Serve `GET /metrics` (Prometheus text format, no user auth). On by default; set
    /// false to close it (the counters are still kept in memory, they are cheap).
    pub metrics: bool,
    /// Serve `/metrics` on this address instead of the main listener (e.g. a private
    /// interface). Unset: on the main listener.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            metrics: true,
            metrics_addr: None,
        }
    }
}
