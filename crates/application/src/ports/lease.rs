use async_trait::async_trait;

use super::PortError;

/// Exclusive ownership of a named piece of work (an event processor) across instances.
#[async_trait]
pub trait LeaseProvider: Send + Sync {
    /// Takes the lease if no other instance holds it; `None` when another instance does.
    /// Within one instance a name is leased by one task at a time.
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, PortError>;
}

/// A held lease. Dropping it releases it; so does the death of the holding instance.
#[async_trait]
pub trait Lease: Send + Sync {
    /// Whether the lease is still held (the connection holding it may have died).
    async fn is_held(&mut self) -> bool;
}
