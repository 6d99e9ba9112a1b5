//! Operator sessions signed out before they expired. A session cookie is signed and needs
//! no server state to be valid; signing out records its nonce here, so the cookie, if it
//! was copied, is refused on every instance sharing the database until it would have
//! expired anyway.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::nonces;
use crate::StoreError;

#[async_trait]
pub trait RevokedSessions: Send + Sync {
    /// Records a session as signed out until `expires_at_ms`, when its cookie stops being
    /// valid on its own; forgets sessions whose expiry has passed.
    async fn revoke_session(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Whether the session with this nonce was signed out.
    async fn session_revoked(&self, nonce: &str) -> Result<bool, StoreError>;
}

#[async_trait]
impl<B: Backend> RevokedSessions for B {
    async fn revoke_session(
        &self,
        nonce: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        nonces::remember(self, "revoked_sessions", nonce, expires_at_ms, now_ms).await?;
        Ok(())
    }

    async fn session_revoked(&self, nonce: &str) -> Result<bool, StoreError> {
        let select = Statement::new("SELECT 1 FROM revoked_sessions WHERE nonce = $1").bind(nonce);
        Ok(self
            .fetch_optional_on_pool::<(i32,)>(select)
            .await?
            .is_some())
    }
}
