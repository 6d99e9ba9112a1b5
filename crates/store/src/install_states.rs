//! OAuth `state` nonces already used, so a replayed install callback is refused on every
//! instance sharing the database.

use async_trait::async_trait;

use crate::backend::Backend;
use crate::nonces;
use crate::StoreError;

#[async_trait]
pub trait InstallStates: Send + Sync {
    /// Records an OAuth `state` nonce as used; `false` if it was used before (a replay).
    /// Forgets nonces whose expiry has passed.
    async fn use_install_state(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl<B: Backend> InstallStates for B {
    async fn use_install_state(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        nonces::remember(self, "used_install_states", nonce, expires_at_ms, now_ms).await
    }
}
