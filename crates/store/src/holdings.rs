//! What the mirror and the inbox hold of one portal, by type: how complete an operator's
//! copy of the portal is, and what spoke keeps without hydrating it (and why).

use async_trait::async_trait;

use crate::backend::{Backend, Statement};
use crate::{PortalId, StoreError};

/// A portal's records of one type in one state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordsHeld {
    /// HubSpot's path name: `contacts`, …
    pub object_type: String,
    /// `live`, `deleted`, `merged` or `erased`.
    pub state: String,
    pub records: i64,
}

/// A portal's events of one subscription type kept unhandled for one reason.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventsKept {
    pub subscription_type: String,
    pub reason: String,
    pub events: i64,
}

#[async_trait]
pub trait Holdings: Send + Sync {
    /// The portal's mirrored records by type and state.
    async fn records_held(&self, portal_id: PortalId) -> Result<Vec<RecordsHeld>, StoreError>;

    /// The portal's unhandled events by subscription type and reason, most first (the
    /// first hundred).
    async fn unhandled_kept(&self, portal_id: PortalId) -> Result<Vec<EventsKept>, StoreError>;
}

#[async_trait]
impl<B: Backend> Holdings for B {
    async fn records_held(&self, portal_id: PortalId) -> Result<Vec<RecordsHeld>, StoreError> {
        let held = Statement::new(
            "SELECT object_type, state, count(*) AS records FROM records WHERE portal_id = $1 \
            GROUP BY object_type, state ORDER BY object_type, state",
        )
        .bind(portal_id);
        self.fetch_all_on_pool(held).await
    }

    async fn unhandled_kept(&self, portal_id: PortalId) -> Result<Vec<EventsKept>, StoreError> {
        let kept = Statement::new(
            "SELECT e.subscription_type AS subscription_type, coalesce(q.reason, '') AS reason, \
            count(*) AS events FROM inbox_queue q JOIN inbox_events e ON e.id = q.id \
            WHERE q.state = 'unhandled' AND q.portal_id = $1 \
            GROUP BY e.subscription_type, q.reason ORDER BY events DESC, subscription_type \
            LIMIT 100",
        )
        .bind(portal_id);
        self.fetch_all_on_pool(kept).await
    }
}
