//! The in-process bus of a single node: `publish` hands the event straight to the attached
//! sink (the hub), in the publisher's task, so nothing can be lost or reordered between
//! commit and fan-out. A broadcast channel also carries every event for in-process
//! listeners that want them all ([`MemoryBus::subscribe`]).

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Bus, BusEvent, BusSink};
use crate::domain::TaskEvent;

/// Bounded: a receiver that falls this far behind sees `Lagged` and must refill from the log.
const CAPACITY: usize = 65_536;

#[derive(Clone)]
pub struct MemoryBus {
    tx: broadcast::Sender<Arc<TaskEvent>>,
    sink: Arc<OnceLock<Weak<dyn BusSink>>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            sink: Arc::new(OnceLock::new()),
        }
    }
}

impl MemoryBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TaskEvent>> {
        self.tx.subscribe()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()> {
        if let Some(sink) = self.sink.get().and_then(Weak::upgrade) {
            sink.deliver(Arc::new(BusEvent::from_task_event(event)));
        }
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(event.clone()));
        }
        Ok(())
    }

    async fn is_healthy(&self) -> bool {
        true
    }

    fn attach(&self, sink: Weak<dyn BusSink>) {
        crate::ops::metrics::get().bus_up.set(1.0);
        let _ = self.sink.set(sink);
    }

    async fn close_user(&self, user_id: &str) -> anyhow::Result<()> {
        if let Some(sink) = self.sink.get().and_then(Weak::upgrade) {
            sink.close_user(user_id);
        }
        Ok(())
    }
}
