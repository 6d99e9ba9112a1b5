//! The inbox as the hydrator's work queue. Workers claim due events fairly across portals
//! (up to a few from each portal with work, round-robin, so one portal's million pending
//! events never delay another's ten), for a limited time: a crashed worker's claims expire
//! and are taken again. A claim ends in one of four ways, each only by its holder: done,
//! back to pending (retried later), or set aside (quarantined, dead, unhandled) with a
//! reason. Dead letters and quarantined events are listed and replayed here too.

use async_trait::async_trait;

use crate::{EventKey, Gone, MirroredRecord, StoreError};

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
    /// Oldest due events taken from each portal, at most.
    pub per_portal: u32,
    /// Events taken in all, at most: with few portals with work each gives more (up to
    /// `per_portal`), with many each gives fewer, so a round's settlement stays small.
    pub round_events: u32,
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
    /// The trace its receipt began (W3C `traceparent`), when traces are on.
    pub trace_context: Option<String>,
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
    /// One, only if it is `portal`'s (a page scoped to a portal replays nothing else).
    OneOf {
        id: i64,
        portal: i64,
    },
    Portal(i64),
    All,
}

/// Events back to pending, due at `due_ms`; with an `error` the attempt counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub ids: Vec<i64>,
    pub due_ms: i64,
    pub error: Option<String>,
}

/// Events set aside with a reason; with an `error` (a dead letter's last one) the attempt
/// that ended them counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    pub ids: Vec<i64>,
    pub state: SetAside,
    pub reason: String,
    pub error: Option<String>,
}

/// A record deleted or merged away as of `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneRecord {
    pub portal_id: i64,
    pub object_type: String,
    pub object_id: i64,
    pub gone: Gone,
    pub at_ms: i64,
    /// The trace that found it gone, continued by the sinks.
    pub trace: Option<String>,
}

/// A record erased by a privacy deletion: see [`WorkQueue::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedRecord {
    pub portal_id: i64,
    /// HubSpot's path name (`contacts`) and the singular its events use (`contact`).
    pub object_type: String,
    pub singular: String,
    pub object_id: i64,
    /// The trace of the privacy deletion's event, continued by the sinks.
    pub trace: Option<String>,
}

/// Everything a hydration round decided for its claimed events, written in one
/// transaction: one commit per round rather than one per portal and outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    pub finished: Vec<i64>,
    pub retries: Vec<Retry>,
    pub set_aside: Vec<Aside>,
    /// Fetched records, stored as live unless the mirror holds a newer version.
    pub records: Vec<MirroredRecord>,
    pub gone: Vec<GoneRecord>,
    pub erased: Vec<ErasedRecord>,
    /// The sinks each change the mirror accepts is queued for ([`crate::SinkQueue`]).
    pub sinks: Vec<String>,
}

impl Settlement {
    /// Takes in another part's decisions (rounds settle portals concurrently); the sinks
    /// stay this settlement's.
    pub fn absorb(&mut self, other: Settlement) {
        self.finished.extend(other.finished);
        self.retries.extend(other.retries);
        self.set_aside.extend(other.set_aside);
        self.records.extend(other.records);
        self.gone.extend(other.gone);
        self.erased.extend(other.erased);
    }
}

/// A change the mirror accepted, as the sinks' queue takes it.
pub(crate) struct Change<'a> {
    pub portal_id: i64,
    pub object_type: &'a str,
    pub object_id: i64,
    /// `live`, `deleted`, `merged` or `erased`.
    pub state: &'a str,
    pub properties: &'a str,
    pub version: i64,
    pub trace: Option<&'a str>,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Claims due, unclaimed pending events: up to `per_portal` (oldest first) from each
    /// of up to `portals` portals with pending work, in one transaction. Each portal's
    /// hydration lease is taken (or renewed) until `until_ms` first; a portal another
    /// holder leases is skipped, so one worker at a time calls HubSpot for it. On
    /// PostgreSQL concurrent workers also skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, StoreError>;

    /// Writes what a round decided, only for events `holder` still holds, in one
    /// transaction: finished events done; retries back to pending; events set aside;
    /// fetched records stored (newer wins); deleted and merged records marked; each change
    /// the mirror accepted queued for the settlement's sinks; erased
    /// records (privacy deletions) left as `erased` tombstones without properties (newer
    /// than anything, so no late event fetches or restores them), the stored payloads of
    /// their events (`<singular>.*` for the id; dead letters included) emptied and those
    /// still pending done, their queued sink copies emptied, and the erase itself queued
    /// for the sinks.
    async fn settle(
        &self,
        holder: &str,
        settlement: &Settlement,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// The events are handled.
    async fn finish(&self, holder: &str, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let settlement = Settlement {
            finished: ids.to_vec(),
            ..Settlement::default()
        };
        self.settle(holder, &settlement, now_ms).await
    }

    /// Back to pending, due at `due_ms`. With an `error` the attempt counts as failed and
    /// the error is kept; without (a rate-limit wait) it does not count.
    async fn retry(
        &self,
        holder: &str,
        ids: &[i64],
        due_ms: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let settlement = Settlement {
            retries: vec![Retry {
                ids: ids.to_vec(),
                due_ms,
                error: error.map(str::to_owned),
            }],
            ..Settlement::default()
        };
        self.settle(holder, &settlement, due_ms).await
    }

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
    ) -> Result<(), StoreError> {
        let settlement = Settlement {
            set_aside: vec![Aside {
                ids: ids.to_vec(),
                state,
                reason: reason.to_owned(),
                error: error.map(str::to_owned),
            }],
            ..Settlement::default()
        };
        self.settle(holder, &settlement, now_ms).await
    }

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

    /// Per portal (every one, or just `portal`), its events pending, dead and quarantined
    /// (portal, state, count): what an operator's overview shows beside each portal.
    async fn queue_counts_by_portal(
        &self,
        portal: Option<i64>,
    ) -> Result<Vec<(i64, String, i64)>, StoreError>;

    /// Deletes up to `limit` events finished (done or unhandled) before `before_ms`;
    /// how many. Quarantined events and dead letters stay until an operator acts.
    async fn prune_finished(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}

/// Expands the implementation in an engine module defining `PORTALS_WITH_WORK`,
/// `LEASE_PORTAL`, `CLAIM`, `FINISH`, `RETRY`, `SET_ASIDE`, `SET_ASIDE_EVENTS`, `REPLAY`,
/// `COUNTS`, `PRUNE`, `ids`, which turns an id list into the engine's list parameter, and
/// `sink_list`, which does the same for sink names (as `SinkList`), with `Database` the
/// engine's sqlx database; the engine's `mirror`, `erase` and `sink_queue` modules supply
/// the record and delivery statements a settlement writes.
macro_rules! impl_work_queue {
    ($store:ty) => {
        use crate::queue::{ClaimRequest, Claimed, Replay, SetAside, SetAsideEvent, Settlement};
        use crate::StoreError;

        #[async_trait::async_trait]
        impl crate::WorkQueue for $store {
            async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, StoreError> {
                // A plain transaction: a claim that finds no work only reads, and takes no
                // write lock from the receiver; one that loses a race fails and the next
                // round tries again.
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
                let share = request.round_events / (portals.len().max(1) as u32);
                let per_portal = i64::from(share.clamp(1, request.per_portal.max(1)));
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
                        .bind(per_portal)
                        .fetch_all(&mut *tx)
                        .await?;
                    claimed.extend(rows);
                }
                tx.commit().await?;
                claimed.sort_by_key(|c| (c.key.portal_id, c.id));
                Ok(claimed)
            }

            async fn settle(
                &self,
                holder: &str,
                settlement: &Settlement,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = super::begin(&self.pool).await?;
                if !settlement.finished.is_empty() {
                    sqlx::query(FINISH)
                        .bind(now_ms)
                        .bind(holder)
                        .bind(ids(&settlement.finished))
                        .execute(&mut *tx)
                        .await?;
                }
                for retry in &settlement.retries {
                    sqlx::query(RETRY)
                        .bind(i32::from(retry.error.is_some()))
                        .bind(retry.due_ms)
                        .bind(&retry.error)
                        .bind(holder)
                        .bind(ids(&retry.ids))
                        .execute(&mut *tx)
                        .await?;
                }
                for aside in &settlement.set_aside {
                    sqlx::query(SET_ASIDE)
                        .bind(aside.state.as_str())
                        .bind(&aside.reason)
                        .bind(&aside.error)
                        .bind(now_ms)
                        .bind(holder)
                        .bind(ids(&aside.ids))
                        .execute(&mut *tx)
                        .await?;
                }
                let sinks = sink_list(&settlement.sinks);
                let queued = !settlement.sinks.is_empty();
                for r in &settlement.records {
                    let accepted: Option<i64> = sqlx::query_scalar(super::mirror::UPSERT)
                        .bind(r.portal_id)
                        .bind(&r.object_type)
                        .bind(r.object_id)
                        .bind(&r.properties)
                        .bind(r.updated_at)
                        .bind(r.fetched_at)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if queued && accepted.is_some() {
                        let change = crate::queue::Change {
                            portal_id: r.portal_id,
                            object_type: &r.object_type,
                            object_id: r.object_id,
                            state: "live",
                            properties: &r.properties,
                            version: r.updated_at,
                            trace: r.trace.as_deref(),
                        };
                        enqueue(&mut tx, &sinks, &change, now_ms).await?;
                    }
                }
                for g in &settlement.gone {
                    let accepted: Option<i64> = sqlx::query_scalar(super::mirror::MARK_GONE)
                        .bind(g.portal_id)
                        .bind(&g.object_type)
                        .bind(g.object_id)
                        .bind(g.gone.as_str())
                        .bind(g.at_ms)
                        .bind(now_ms)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if queued && accepted.is_some() {
                        let change = crate::queue::Change {
                            portal_id: g.portal_id,
                            object_type: &g.object_type,
                            object_id: g.object_id,
                            state: g.gone.as_str(),
                            properties: "{}",
                            version: g.at_ms,
                            trace: g.trace.as_deref(),
                        };
                        enqueue(&mut tx, &sinks, &change, now_ms).await?;
                    }
                }
                for e in &settlement.erased {
                    sqlx::query(super::erase::FORGET_RECORD)
                        .bind(e.portal_id)
                        .bind(&e.object_type)
                        .bind(e.object_id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(super::erase::EMPTY_EVENTS)
                        .bind(e.portal_id)
                        .bind(e.object_id)
                        .bind(format!("{}.%", e.singular))
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(super::sink_queue::FORGET)
                        .bind(e.portal_id)
                        .bind(&e.object_type)
                        .bind(e.object_id)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    if queued {
                        let change = crate::queue::Change {
                            portal_id: e.portal_id,
                            object_type: &e.object_type,
                            object_id: e.object_id,
                            state: "erased",
                            properties: "{}",
                            version: now_ms,
                            trace: e.trace.as_deref(),
                        };
                        enqueue(&mut tx, &sinks, &change, now_ms).await?;
                    }
                }
                tx.commit().await?;
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
                    Replay::OneOf { id, portal } => (Some(id), Some(portal)),
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

            async fn queue_counts_by_portal(
                &self,
                portal: Option<i64>,
            ) -> Result<Vec<(i64, String, i64)>, StoreError> {
                Ok(sqlx::query_as(COUNTS_BY_PORTAL)
                    .bind(portal)
                    .fetch_all(&self.pool)
                    .await?)
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

        /// Queues one change for every sink in `sinks`.
        async fn enqueue(
            tx: &mut sqlx::Transaction<'_, Database>,
            sinks: &SinkList,
            change: &crate::queue::Change<'_>,
            now_ms: i64,
        ) -> Result<(), StoreError> {
            sqlx::query(super::sink_queue::ENQUEUE)
                .bind(sinks)
                .bind(change.portal_id)
                .bind(change.object_type)
                .bind(change.object_id)
                .bind(change.state)
                .bind(change.properties)
                .bind(change.version)
                .bind(now_ms)
                .bind(change.trace)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    };
}

pub(crate) use impl_work_queue;
