//! Liveness of the database itself. Each engine implements it in its `mod.rs`, beside its
//! pool and migrator.

use async_trait::async_trait;

use crate::StoreError;

#[async_trait]
pub trait Health: Send + Sync {
    /// `Ok` when the database answers and every embedded migration is applied.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Applies the migrations this build embeds that the database does not have yet.
    async fn migrate(&self) -> Result<(), StoreError>;
}
