//! The in-process bus of a single node: a broadcast channel.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::Bus;
use crate::store::TaskEvent;

/// Bounded: a receiver that falls this far behind sees `Lagged` and must refill from the log.
const CAPACITY: usize = 65_536;

#[derive(Clone)]
pub struct MemoryBus {
    tx: broadcast::Sender<Arc<TaskEvent>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
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
        // No receivers is fine: nobody on this node is watching.
        let _ = self.tx.send(Arc::new(event.clone()));
        Ok(())
    }

    async fn is_healthy(&self) -> bool {
        true
    }
}
