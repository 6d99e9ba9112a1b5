//! The inbox as the hydrator's work queue. Workers claim due events fairly across portals
//! (up to a few from each portal with work, round-robin, so one portal's million pending
//! events never delay another's ten), for a limited time: a crashed worker's claims expire
//! and are taken again. A claim ends in one of four ways, each only by its holder: done,
//! back to pending (retried later), or set aside (quarantined, dead, unhandled) with a
//! reason. Dead letters and quarantined events are listed and replayed here too.

use async_trait::async_trait;

use crate::{EventKey, StoreError};

/// The leases' table, for [`crate::Erasure`].
pub(crate) const LEASES_TABLE: &str = "hydration_leases";

/// What a worker asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub holder: &'a str,
    /// Claims expire then, unless finished first.
    pub until_ms: i64,
    pub now_ms: i64,
    /// Portals visited this round, after `after_portal` in id order (wrapping around).
    pub portals: u32,
    pub after_portal: i64,
    /// Oldest due events taken from each portal.
    pub per_portal: u32,
}

/// An event a worker now holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    #[sqlx(flatten)]
    pub key: EventKey,
    pub subscription_type: String,
    /// The event's JSON as HubSpot sent it.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// Where an event that is not done and not to be retried goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAside {
    /// Kept and not fetched until its portal can be served (installed, scopes granted).
    Quarantined,
    /// Attempts used up: an operator replays it.
    Dead,
    /// A subscription type spoke does not hydrate: kept and marked, never dropped.
    Unhandled,
}

impl SetAside {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quarantined => "quarantined",
            Self::Dead => "dead",
            Self::Unhandled => "unhandled",
        }
    }
}

/// An event set aside, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SetAsideEvent {
    pub id: i64,
    pub portal_id: i64,
    pub object_id: i64,
    pub subscription_type: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub last_error: Option<String>,
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    One(i64),
    Portal(i64),
    All,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Claims due, unclaimed pending events: up to `per_portal` (oldest first) from each
    /// of up to `portals` portals with pending work, in one transaction. Each portal's
    /// hydration lease is taken (or renewed) until `until_ms` first; a portal another
    /// holder leases is skipped, so one worker at a time calls HubSpot for it. On
    /// PostgreSQL concurrent workers also skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, StoreError>;

    /// The events are handled.
    async fn finish(&self, holder: &str, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;

    /// Back to pending, due at `due_ms`. With an `error` the attempt counts as failed and
    /// the error is kept; without (a rate-limit wait) it does not count.
    async fn retry(
        &self,
        holder: &str,
        ids: &[i64],
        due_ms: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Sets events aside with a reason; with an `error` (a dead letter's last one) the
    /// attempt that ended them counts as failed.
    async fn set_aside(
        &self,
        holder: &str,
        ids: &[i64],
        state: SetAside,
        reason: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Events set aside in `state`, oldest first, of one portal or all.
    async fn set_aside_events(
        &self,
        state: SetAside,
        portal_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SetAsideEvent>, StoreError>;

    /// Dead letters back to pending with fresh attempts; how many. Replaying again finds
    /// nothing more to replay.
    async fn replay(&self, which: Replay) -> Result<u64, StoreError>;

    /// Inbox events per state, for operators.
    async fn queue_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// Deletes up to `limit` events finished (done or unhandled) before `before_ms`;
    /// how many. Quarantined events and dead letters stay until an operator acts.
    async fn prune_finished(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

/// Expands the implementation in an engine module defining `PORTALS_WITH_WORK`,
/// `LEASE_PORTAL`, `CLAIM`,
/// `FINISH`, `RETRY`, `SET_ASIDE`, `SET_ASIDE_EVENTS`, `REPLAY`, `COUNTS`, `PRUNE`, and `ids`, which
/// turns an id list into the engine's list parameter.
macro_rules! impl_work_queue {
    ($store:ty) => {
        use crate::queue::{ClaimRequest, Claimed, Replay, SetAside, SetAsideEvent};
        use crate::StoreError;

        #[async_trait::async_trait]
        impl crate::WorkQueue for $store {
            async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let wanted = i64::from(request.portals);
                let mut portals: Vec<i64> = sqlx::query_scalar(PORTALS_WITH_WORK)
                    .bind(request.after_portal)
                    .bind(wanted)
                    .fetch_all(&mut *tx)
                    .await?;
                if (portals.len() as i64) < wanted && request.after_portal != i64::MIN {
                    // Wrap around to the portals before the cursor.
                    let first: Vec<i64> = sqlx::query_scalar(PORTALS_WITH_WORK)
                        .bind(i64::MIN)
                        .bind(wanted - portals.len() as i64)
                        .fetch_all(&mut *tx)
                        .await?;
                    portals.extend(first.into_iter().filter(|p| *p <= request.after_portal));
                }
                let mut claimed = Vec::new();
                for portal in portals {
                    let leased = sqlx::query(LEASE_PORTAL)
                        .bind(portal)
                        .bind(request.holder)
                        .bind(request.until_ms)
                        .bind(request.now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !leased {
                        continue;
                    }
                    let rows: Vec<Claimed> = sqlx::query_as(CLAIM)
                        .bind(request.holder)
                        .bind(request.until_ms)
                        .bind(portal)
                        .bind(request.now_ms)
                        .bind(i64::from(request.per_portal))
                        .fetch_all(&mut *tx)
                        .await?;
                    claimed.extend(rows);
                }
                tx.commit().await?;
                claimed.sort_by_key(|c| (c.key.portal_id, c.id));
                Ok(claimed)
            }

            async fn finish(
                &self,
                holder: &str,
                list: &[i64],
                now_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(FINISH)
                    .bind(now_ms)
                    .bind(holder)
                    .bind(ids(list))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn retry(
                &self,
                holder: &str,
                list: &[i64],
                due_ms: i64,
                error: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query(RETRY)
                    .bind(i32::from(error.is_some()))
                    .bind(due_ms)
                    .bind(error)
                    .bind(holder)
                    .bind(ids(list))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_aside(
                &self,
                holder: &str,
                list: &[i64],
                state: SetAside,
                reason: &str,
                error: Option<&str>,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(SET_ASIDE)
                    .bind(state.as_str())
                    .bind(reason)
                    .bind(error)
                    .bind(now_ms)
                    .bind(holder)
                    .bind(ids(list))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_aside_events(
                &self,
                state: SetAside,
                portal_id: Option<i64>,
                limit: u32,
            ) -> Result<Vec<SetAsideEvent>, StoreError> {
                Ok(sqlx::query_as(SET_ASIDE_EVENTS)
                    .bind(state.as_str())
                    .bind(portal_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn replay(&self, which: Replay) -> Result<u64, StoreError> {
                let (id, portal) = match which {
                    Replay::One(id) => (Some(id), None),
                    Replay::Portal(portal) => (None, Some(portal)),
                    Replay::All => (None, None),
                };
                let done = sqlx::query(REPLAY)
                    .bind(id)
                    .bind(portal)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn queue_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as(COUNTS).fetch_all(&self.pool).await?)
            }

            async fn prune_finished(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
                let done = sqlx::query(PRUNE)
                    .bind(before_ms)
                    .bind(i64::from(limit))
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_work_queue;
