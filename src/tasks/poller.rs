//! The poller: drives every open task at its provider until it ends.
//!
//! Each node has an id and claims due tasks with a lease (`store::poller`), so a task is
//! driven by one node at a time and a dead node's tasks are taken over once its leases
//! expire. Driving one task (`drive`) submits it if it has no provider job yet, else asks
//! the provider for its status, writes any change with its event in one transaction,
//! publishes the event after commit, and schedules the next poll.
//!
//! [`Poller::poll_once`] claims one batch and drives it to the end of that step: tests call
//! it directly. [`Poller::run`] is the node's loop: it keeps up to `poller_concurrency` tasks
//! in flight, claiming more as slots free up, until `state.shutdown`, then lets in-flight
//! steps finish (briefly) and releases its leases so other nodes take over at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinSet;

use super::context::TaskContext;
use super::drive::{Driver, StepOutcome};
use crate::domain::time::now_ms;
use crate::providers::Providers;

/// How long in-flight steps may run on after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What one [`Poller::poll_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Tasks claimed (and driven one step).
    pub claimed: usize,
    /// Events written (and published).
    pub events: usize,
    /// Steps that ended in a provider or store error (the task is retried later).
    pub errors: usize,
}

impl Outcome {
    fn add(&mut self, step: StepOutcome) {
        self.events += step.events;
        self.errors += usize::from(step.error);
    }
}

#[derive(Clone)]
pub struct Poller {
    driver: Arc<Driver>,
}

impl Poller {
    /// A poller with a fresh node id, using the node's configured providers.
    pub fn new(state: impl Into<TaskContext>) -> Self {
        let state = state.into();
        let providers = state.video.providers.clone();
        let node_id = format!("node-{}", uuid::Uuid::new_v4());
        Self {
            driver: Arc::new(Driver::new(state, providers, node_id)),
        }
    }

    /// The same poller under another node id (tests run several "nodes" in one process).
    pub fn with_node_id(self, node_id: &str) -> Self {
        let d = &self.driver;
        Self {
            driver: Arc::new(Driver::new(
                d.state.clone(),
                d.providers.clone(),
                node_id.into(),
            )),
        }
    }

    /// The same poller with other providers (tests inject scripted ones).
    pub fn with_providers(self, providers: Providers) -> Self {
        let d = &self.driver;
        Self {
            driver: Arc::new(Driver::new(d.state.clone(), providers, d.node_id.clone())),
        }
    }

    pub fn node_id(&self) -> &str {
        &self.driver.node_id
    }

    /// Claims one batch of due tasks and drives each one step (up to `poller_concurrency`
    /// at a time).
    pub async fn poll_once(&self) -> anyhow::Result<Outcome> {
        let s = &self.driver.state.settings.poller;
        let tasks = self.driver.claim(i64::from(s.poller_batch.max(1))).await?;
        let mut outcome = Outcome {
            claimed: tasks.len(),
            ..Outcome::default()
        };
        let steps: Vec<StepOutcome> = futures_util::stream::iter(tasks)
            .map(|task| self.driver.step(task))
            .buffer_unordered(s.poller_concurrency.max(1))
            .collect()
            .await;
        for step in steps {
            outcome.add(step);
        }
        Ok(outcome)
    }

    /// The node's loop, until `state.shutdown`; releases this node's leases on the way out.
    pub async fn run(self) {
        let d = self.driver.clone();
        let s = d.state.settings.poller.clone();
        let shutdown = d.state.shutdown.clone();
        let tick = Duration::from_millis(s.poller_tick_ms.max(10));
        let slots = s.poller_concurrency.max(1);
        let mut in_flight: JoinSet<StepOutcome> = JoinSet::new();
        tracing::info!(node = %d.node_id, concurrency = slots, "poller started");
        while !shutdown.is_cancelled() {
            let free = slots - in_flight.len();
            let mut more_due = false;
            if free > 0 {
                let want = free.min(s.poller_batch.max(1) as usize);
                match d.claim(want as i64).await {
                    Ok(tasks) => {
                        more_due = tasks.len() == want;
                        for task in tasks {
                            let d = d.clone();
                            in_flight.spawn(async move { d.step(task).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "poller could not claim tasks"),
                }
            }
            let full = in_flight.len() >= slots;
            if more_due && !full {
                continue;
            }
            // Full: claim again as soon as a slot frees. Otherwise nothing else is due yet:
            // look again after a tick.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = in_flight.join_next(), if full => {}
                _ = tokio::time::sleep(tick), if !full => {}
            }
            while in_flight.try_join_next().is_some() {}
        }
        let grace = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while in_flight.join_next().await.is_some() {}
        });
        if grace.await.is_err() {
            in_flight.abort_all();
        }
        match d.state.store.release_leases(&d.node_id).await {
            Ok(n) => tracing::info!(node = %d.node_id, released = n, "poller stopped"),
            Err(e) => tracing::warn!(error = %e, "poller could not release its leases"),
        }
    }
}

impl Driver {
    /// Claims up to `limit` due tasks for this node.
    async fn claim(&self, limit: i64) -> anyhow::Result<Vec<crate::store::Task>> {
        let now = now_ms();
        let lease_ms = self.state.settings.poller.lease_ms.max(1) as i64;
        let names = self.providers.names();
        Ok(self
            .state
            .store
            .claim_due_tasks(&self.node_id, now, now + lease_ms, limit, &names)
            .await?)
    }
}
