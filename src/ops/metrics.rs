//! The process's Prometheus recorder and the pre-resolved metric handles the hot paths use.
//!
//! The recorder is global per process ([`::metrics`] allows one), so it is installed once
//! ([`handle`], a `OnceLock`) however many apps a process builds (integration tests build
//! dozens): every app renders the same registry. Hot paths (the hub's fan-out and writers)
//! never name a metric: they use [`get`]'s handles, resolved once, so recording is an atomic
//! add with no string formatting, hashing or label allocation. The fan-out latency
//! histograms are sampled: one frame per socket write batch (the oldest frame of the
//! batch), so a busy socket records one sample per write system call, not per frame.
//!
//! Naming follows Prometheus conventions: `taskhub_` prefix, units in names (`_seconds`,
//! `_total`), and only bounded label values (route templates, methods, status codes, close
//! codes, outcomes; never user ids or task ids).

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use ::metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets (seconds) for request, provider-call and fan-out latencies.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets (seconds) for whole task durations.
const TASK_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];
/// How often histograms are drained into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The close-code labels of `taskhub_ws_closed_total`: codes the server sends (`other` for
/// any code not listed), and `peer` for a socket the client closed or lost.
pub const CLOSE_LABELS: [&str; 11] = [
    "1000", "1002", "1007", "1008", "1009", "1011", "1012", "4001", "4002", "other", "peer",
];

/// Handles of the metrics recorded on hot or frequent paths.
pub struct Handles {
    pub ws_sockets: Gauge,
    pub ws_authenticated: Gauge,
    pub ws_connections: Counter,
    pub ws_frames_sent: Counter,
    pub ws_coalesced: Counter,
    pub ws_slow_closed: Counter,
    pub ws_frames_dropped: Counter,
    pub ws_write_errors: Counter,
    ws_closed: Vec<Counter>,
    pub ws_fanout_latency: Histogram,
    pub ws_event_latency: Histogram,
    pub bus_up: Gauge,
    pub bus_reconnects: Counter,
    pub bus_refilled: Counter,
    pub bus_stragglers_dropped: Counter,
    pub bus_gaps_filled: Counter,
    pub bus_publish_queue: Gauge,
    pub bus_publish_dropped: Counter,
    pub poller_steps: Counter,
    pub poller_step_errors: Counter,
    pub poller_events: Counter,
    pub lease_takeovers: Counter,
    pub leases_lost: Counter,
    pub credits_charged: Counter,
    pub credits_refunded: Counter,
    pub credits_expired: Counter,
}

impl Handles {
    /// Counts a socket closed with `code` (ours), or by its peer (`None`).
    pub fn ws_closed(&self, code: Option<u16>) {
        let i = match code {
            Some(1000) => 0,
            Some(1002) => 1,
            Some(1007) => 2,
            Some(1008) => 3,
            Some(1009) => 4,
            Some(1011) => 5,
            Some(1012) => 6,
            Some(4001) => 7,
            Some(4002) => 8,
            Some(_) => 9,
            None => 10,
        };
        self.ws_closed[i].increment(1);
    }

    /// One sampled frame written now: received from the bus at `received`, committed at
    /// `created_at_ms` (Unix ms).
    pub fn frame_written(&self, received: Instant, created_at_ms: i64) {
        self.ws_fanout_latency
            .record(received.elapsed().as_secs_f64());
        let e2e_ms = (crate::domain::time::now_ms() - created_at_ms).max(0);
        self.ws_event_latency.record(e2e_ms as f64 / 1000.0);
    }
}

/// The recorder's render handle, installing the recorder on first use.
/// Sets the gauges read off the runtime at scrape time (`taskhub_runtime_tasks`).
pub fn sample_runtime() {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        gauge!("taskhub_runtime_tasks").set(rt.metrics().num_alive_tasks() as f64);
    }
}

pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("taskhub_task_duration_seconds".into()),
                TASK_BUCKETS,
            )
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS));
        let builder = match builder {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "metrics buckets rejected; histograms render as summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only this one's");
        }
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
        describe();
        handle
    })
}

/// The pre-resolved handles (installs the recorder first, so they are never no-ops).
pub fn get() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| {
        handle();
        Handles {
            ws_sockets: gauge!("taskhub_ws_sockets"),
            ws_authenticated: gauge!("taskhub_ws_sockets_authenticated"),
            ws_connections: counter!("taskhub_ws_connections_total"),
            ws_frames_sent: counter!("taskhub_ws_frames_sent_total"),
            ws_coalesced: counter!("taskhub_ws_coalesced_total"),
            ws_slow_closed: counter!("taskhub_ws_slow_closed_total"),
            ws_frames_dropped: counter!("taskhub_ws_frames_dropped_total"),
            ws_write_errors: counter!("taskhub_ws_write_errors_total"),
            ws_closed: CLOSE_LABELS
                .iter()
                .map(|code| counter!("taskhub_ws_closed_total", "code" => *code))
                .collect(),
            ws_fanout_latency: histogram!("taskhub_ws_fanout_latency_seconds"),
            ws_event_latency: histogram!("taskhub_ws_event_latency_seconds"),
            bus_up: gauge!("taskhub_bus_up"),
            bus_reconnects: counter!("taskhub_bus_reconnects_total"),
            bus_refilled: counter!("taskhub_bus_refilled_events_total"),
            bus_stragglers_dropped: counter!("taskhub_bus_stragglers_dropped_total"),
            bus_gaps_filled: counter!("taskhub_bus_gaps_filled_total"),
            bus_publish_queue: gauge!("taskhub_bus_publish_queue_depth"),
            bus_publish_dropped: counter!("taskhub_bus_publish_dropped_total"),
            poller_steps: counter!("taskhub_poller_steps_total"),
            poller_step_errors: counter!("taskhub_poller_step_errors_total"),
            poller_events: counter!("taskhub_poller_events_total"),
            lease_takeovers: counter!("taskhub_poller_lease_takeovers_total"),
            leases_lost: counter!("taskhub_poller_leases_lost_total"),
            credits_charged: counter!("taskhub_credits_total", "kind" => "charged"),
            credits_refunded: counter!("taskhub_credits_total", "kind" => "refunded"),
            credits_expired: counter!("taskhub_credits_total", "kind" => "expired"),
        }
    })
}

/// How a failed call is counted: a short, bounded label (`rejected`, `transient`, …).
pub trait CallOutcome {
    fn outcome(&self) -> &'static str;
}

/// Times one provider call and counts it by operation and outcome (`ok` or the error's
/// [`CallOutcome`]).
pub async fn provider_call<T, E: CallOutcome>(
    provider: &str,
    op: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    get();
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    let labels = [
        ("provider", provider_label(provider)),
        ("op", op),
        ("outcome", outcome),
    ];
    counter!("taskhub_provider_calls_total", &labels).increment(1);
    histogram!("taskhub_provider_call_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Provider names are configuration, but keep the label set bounded anyway.
fn provider_label(name: &str) -> &'static str {
    match name {
        "simulator" => "simulator",
        "openai" => "openai",
        _ => "other",
    }
}

/// A task reached `status` (completed, failed, cancelled) `seconds` after it was created.
pub fn task_finished(status: &str, seconds: f64) {
    get();
    let status = match status {
        "completed" => "completed",
        "failed" => "failed",
        "cancelled" => "cancelled",
        _ => "other",
    };
    histogram!("taskhub_task_duration_seconds", "status" => status).record(seconds.max(0.0));
}

/// A webhook delivery attempt ended with `outcome`: `delivered` (2xx), `refused` (another
/// status) or `failed` (no answer: timeout, connection error, refused address).
pub fn webhook(outcome: &'static str) {
    get();
    counter!("taskhub_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// One HTTP request answered.
pub fn http_request(route: &str, method: &'static str, status: u16, seconds: f64) {
    get();
    let status = status.to_string();
    let labels = [
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status),
    ];
    counter!("taskhub_http_requests_total", &labels).increment(1);
    histogram!("taskhub_http_request_duration_seconds", &labels).record(seconds);
}

fn describe() {
    describe_counter!(
        "taskhub_http_requests_total",
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        "taskhub_http_request_duration_seconds",
        ::metrics::Unit::Seconds,
        "HTTP request latency, by route template, method and status"
    );
    describe_gauge!("taskhub_ws_sockets", "WebSocket sockets open on this node");
    describe_gauge!(
        "taskhub_ws_sockets_authenticated",
        "authenticated WebSocket sockets on this node"
    );
    describe_counter!("taskhub_ws_connections_total", "WebSocket sockets opened");
    describe_counter!("taskhub_ws_closed_total", "WebSocket sockets closed, by the close code the server sent (peer: closed or lost by the client)");
    describe_counter!("taskhub_ws_frames_sent_total", "frames written to sockets");
    describe_counter!(
        "taskhub_ws_coalesced_total",
        "queued progress frames replaced by a newer one"
    );
    describe_counter!(
        "taskhub_ws_slow_closed_total",
        "sockets closed with 4002 because their queue overflowed"
    );
    describe_counter!(
        "taskhub_ws_frames_dropped_total",
        "queued frames discarded when a socket was closed with 4002"
    );
    describe_counter!(
        "taskhub_ws_write_errors_total",
        "socket writes that failed or timed out"
    );
    describe_histogram!(
        "taskhub_ws_fanout_latency_seconds",
        ::metrics::Unit::Seconds,
        "bus receive to socket write, sampled: one frame per write batch"
    );
    describe_histogram!(
        "taskhub_ws_event_latency_seconds",
        ::metrics::Unit::Seconds,
        "event commit to socket write, sampled: one frame per write batch"
    );
    describe_gauge!(
        "taskhub_bus_up",
        "1 while the bus delivers, 0 while it is down"
    );
    describe_counter!("taskhub_bus_reconnects_total", "bus subscriber reconnects");
    describe_counter!(
        "taskhub_bus_refilled_events_total",
        "events read back from the log after a bus outage"
    );
    describe_counter!(
        "taskhub_bus_stragglers_dropped_total",
        "live events dropped at a node because their task had already passed their seq"
    );
    describe_counter!(
        "taskhub_bus_gaps_filled_total",
        "events read back from the log to fill a gap in a task's live events"
    );
    describe_gauge!(
        "taskhub_runtime_tasks",
        "tokio tasks alive on this node (read at each scrape)"
    );
    describe_gauge!(
        "taskhub_bus_publish_queue_depth",
        "events waiting to be published to the bus"
    );
    describe_counter!(
        "taskhub_bus_publish_dropped_total",
        "events the bus could not publish (subscribers refill from the log)"
    );
    describe_counter!(
        "taskhub_poller_steps_total",
        "poller steps (one provider round per task)"
    );
    describe_counter!(
        "taskhub_poller_step_errors_total",
        "poller steps that ended in an error and were retried later"
    );
    describe_counter!(
        "taskhub_poller_events_total",
        "task events written by the poller"
    );
    describe_counter!(
        "taskhub_poller_lease_takeovers_total",
        "tasks claimed from another node whose lease had expired"
    );
    describe_counter!(
        "taskhub_poller_leases_lost_total",
        "steps abandoned because another node took the lease"
    );
    describe_counter!(
        "taskhub_provider_calls_total",
        "provider calls, by provider, operation and outcome"
    );
    describe_histogram!(
        "taskhub_provider_call_duration_seconds",
        ::metrics::Unit::Seconds,
        "provider call latency, by provider, operation and outcome"
    );
    describe_histogram!(
        "taskhub_task_duration_seconds",
        ::metrics::Unit::Seconds,
        "creation to final status, by final status"
    );
    describe_counter!(
        "taskhub_credits_total",
        "credits moved, by kind: charged, refunded, expired"
    );
    describe_counter!(
        "taskhub_webhook_deliveries_total",
        "task webhooks, by outcome"
    );
}
