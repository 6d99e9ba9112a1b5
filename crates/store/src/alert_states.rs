//! The alerts announced so far, shared by every instance on the database: recording a
//! change succeeds for one caller only, and that caller announces it. See the migration
//! `alert_states` for the table.

use async_trait::async_trait;

use crate::StoreError;

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "alert_states";

#[async_trait]
pub trait AlertStates: Send + Sync {
    /// Records that the alert `about` of `portal_id` ([`crate::APP_WIDE`]: app-wide) is
    /// now at `level`, or resolved (`None`). `true` when this changed what was recorded:
    /// the caller is the one to announce the change.
    async fn record_alert(
        &self,
        portal_id: i64,
        about: &str,
        level: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Expands the implementation in an engine module defining `RAISE` and `RESOLVE`.
macro_rules! impl_alert_states {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl crate::AlertStates for $store {
            async fn record_alert(
                &self,
                portal_id: i64,
                about: &str,
                level: Option<&str>,
                now_ms: i64,
            ) -> Result<bool, crate::StoreError> {
                let done = match level {
                    Some(level) => {
                        sqlx::query(RAISE)
                            .bind(portal_id)
                            .bind(about)
                            .bind(level)
                            .bind(now_ms)
                            .execute(&self.pool)
                            .await?
                    }
                    None => {
                        sqlx::query(RESOLVE)
                            .bind(portal_id)
                            .bind(about)
                            .execute(&self.pool)
                            .await?
                    }
                };
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_alert_states;
