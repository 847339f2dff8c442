//! The bus carries committed task events between nodes (PROTOCOL §5). The hub never knows
//! whether events came from memory or Redis.

pub mod memory;

use async_trait::async_trait;

use crate::store::TaskEvent;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes a committed event to every node (call after the transaction commits).
    async fn publish(&self, event: &TaskEvent) -> anyhow::Result<()>;
    /// Whether the bus can currently deliver (for `/ready`).
    async fn is_healthy(&self) -> bool;
}
