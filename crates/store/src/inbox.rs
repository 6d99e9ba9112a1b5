//! The durable inbox of webhook events. The engines differ most here (multi-row inserts on
//! SQLite, one `UNNEST` statement on PostgreSQL), so each implements it on its own.

use async_trait::async_trait;

use crate::{AppendOutcome, NewEvent, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "inbox_events";

#[async_trait]
pub trait Inbox: Send + Sync {
    /// Stores the events of several deliveries, received at `received_ms`, in one
    /// transaction (one commit, one fsync), each new one queued for the hydrator (by a
    /// trigger, see the `inbox_queue` migration), and says
    /// for each delivery how many events were new and how many were seen before. Either
    /// every event is durable when this returns `Ok`, or none is.
    async fn append(
        &self,
        deliveries: &[Vec<NewEvent>],
        received_ms: i64,
    ) -> Result<Vec<AppendOutcome>, StoreError>;

    /// Events received and waiting for the hydrator: the backlog that admission control
    /// limits. Quarantined events are left out: one portal lacking a scope must not stop
    /// every portal's deliveries (retention bounds them instead).
    async fn backlog_count(&self) -> Result<u64, StoreError>;
}
