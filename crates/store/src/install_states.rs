//! OAuth `state` nonces already used, so a replayed install callback is refused on every
//! instance sharing the database.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
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
        let mut tx = self.begin_write().await?;
        let forget = format!(
            "DELETE FROM used_install_states WHERE expires_at < {}",
            B::at(1)
        );
        B::execute(&mut tx, Statement::new(forget).bind(now_ms)).await?;
        let record = format!(
            "INSERT INTO used_install_states (nonce, expires_at) VALUES ($1, {}) \
            ON CONFLICT DO NOTHING",
            B::at(2)
        );
        let fresh = B::execute(
            &mut tx,
            Statement::new(record).bind(nonce).bind(expires_at_ms),
        )
        .await?
            == 1;
        B::commit(tx).await?;
        Ok(fresh)
    }
}
