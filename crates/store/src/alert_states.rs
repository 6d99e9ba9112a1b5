//! The alerts announced so far, shared by every instance on the database: recording a
//! change succeeds for one caller only, and that caller announces it. See the migration
//! `alert_states` for the table.

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{Scope, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "alert_states";

#[async_trait]
pub trait AlertStates: Send + Sync {
    /// Records that the alert `about` of `scope` is
    /// now at `level`, or resolved (`None`). `true` when this changed what was recorded:
    /// the caller is the one to announce the change.
    async fn record_alert(
        &self,
        scope: Scope,
        about: &str,
        level: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
impl<B: Backend> AlertStates for B {
    async fn record_alert(
        &self,
        scope: Scope,
        about: &str,
        level: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let statement = match level {
            // No row changes when it is at that level already.
            Some(level) => Statement::new(
                "INSERT INTO alert_states (portal_id, about, level, changed_at) \
                VALUES ($1, $2, $3, $4) ON CONFLICT (portal_id, about) DO UPDATE \
                SET level = excluded.level, changed_at = excluded.changed_at \
                WHERE alert_states.level <> excluded.level",
            )
            .bind(scope)
            .bind(about)
            .bind(level)
            .bind(now_ms),
            None => Statement::new("DELETE FROM alert_states WHERE portal_id = $1 AND about = $2")
                .bind(scope)
                .bind(about),
        };
        let changed = self.execute_on_pool(statement).await?;
        Ok(changed == 1)
    }
}
