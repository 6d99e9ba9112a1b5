//! The inbox as the hydrator's work queue. Workers claim due events fairly across portals
//! (up to a few from each portal with work, round-robin, so one portal's million pending
//! events never delay another's ten), for a limited time: a crashed worker's claims expire
//! and are taken again. A claim ends in one of four ways, each only by its holder: done,
//! back to pending (retried later), or set aside (quarantined, dead, unhandled) with a
//! reason. Dead letters and quarantined events are listed and replayed here too.
//!
//! An event's inbox row is written once; its state is a small row of `inbox_queue`, keyed
//! by state and portal (on SQLite also stored in that order; see its migration), and done
//! is that row deleted: settling a round no longer rewrites a page per event.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::backend::{Backend, Bind, Statement};
use crate::settle::{writable_portals, write_records, Aside, Settlement};
use crate::{EventKey, ObjectId, PortalId, Retry, SetAside, StoreError};

/// The leases' table, for [`crate::Erasure`].
pub(crate) const LEASES_TABLE: &str = "hydration_leases";
/// The events' states, for [`crate::Erasure`].
pub(crate) const QUEUE_TABLE: &str = "inbox_queue";

/// What a worker asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub holder: &'a str,
    /// Claims expire then, unless finished first.
    pub until_ms: i64,
    pub now_ms: i64,
    /// Portals visited this round, after `after_portal` (`None`: from the first) in id
    /// order, wrapping around.
    pub portals: u32,
    pub after_portal: Option<PortalId>,
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

/// An event set aside, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SetAsideEvent {
    pub id: i64,
    pub portal_id: PortalId,
    pub object_id: ObjectId,
    pub subscription_type: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub last_error: Option<String>,
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
    /// transaction: finished events done; retries back to pending; events set aside; and,
    /// only for portals of events it still holds that are not uninstalled or erased,
    /// fetched records stored (newer wins); deleted and merged records marked; each change
    /// the mirror accepted queued for the settlement's sinks; erased
    /// records (privacy deletions) left as `erased` tombstones without properties (newer
    /// than anything, so no late event fetches or restores them), the stored payloads of
    /// their events (`<singular>.*`, and `object.*` naming the type's id, for the id; dead
    /// letters included) emptied and those
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

    /// Events set aside in `state`, oldest first, of one portal or all (dead letters:
    /// [`crate::DeadLetters`]).
    async fn set_aside_events(
        &self,
        state: SetAside,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<SetAsideEvent>, StoreError>;

    /// Inbox events per state, for operators.
    async fn queue_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// Per portal (every one, or just `portal`), its events pending, dead and quarantined
    /// (portal, state, count): what an operator's overview shows beside each portal.
    async fn queue_counts_by_portal(
        &self,
        portal: Option<PortalId>,
    ) -> Result<Vec<(PortalId, String, i64)>, StoreError>;

    /// Deletes up to `limit` done events received before `before_ms`, and as many set
    /// aside before it as unhandled or quarantined for a portal that is uninstalled, erased
    /// or was never installed; how many. Dead letters, and quarantined events of a portal
    /// that may still be served, stay until an operator acts.
    async fn prune_finished(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;

    /// Whether every write takes one lock for the whole database (SQLite): claims and
    /// settlements then keep it briefly, since the receiver's group commits wait for it.
    fn one_writer(&self) -> bool;
}

/// An install makes its portal's quarantined events work again.
pub(crate) async fn release_quarantined<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
) -> Result<(), StoreError> {
    let statement = Statement::new(
        "UPDATE inbox_queue SET state = 'pending', reason = NULL, next_attempt_at = NULL, \
        finished_at = NULL WHERE state = 'quarantined' AND portal_id = $1",
    )
    .bind(portal_id);
    B::execute(conn, statement).await?;
    Ok(())
}

/// Portals with pending events after `after`, in id order, at most `limit`: a loose index
/// scan over `inbox_queue`'s key, one probe per portal whatever its backlog.
async fn portals_with_work<B: Backend>(
    conn: &mut B::Conn,
    after: Option<PortalId>,
    limit: i64,
) -> Result<Vec<PortalId>, StoreError> {
    let statement = Statement::new(
        "WITH RECURSIVE p(portal_id, n) AS ( \
        SELECT (SELECT min(portal_id) FROM inbox_queue WHERE state = 'pending' AND portal_id > $1), 1 \
        UNION ALL \
        SELECT (SELECT min(portal_id) FROM inbox_queue WHERE state = 'pending' AND portal_id > p.portal_id), n + 1 \
        FROM p WHERE p.portal_id IS NOT NULL AND n < $2) \
        SELECT portal_id FROM p WHERE portal_id IS NOT NULL",
    )
    .bind(after.map_or(i64::MIN, |p| p.0))
    .bind(limit);
    let rows: Vec<(PortalId,)> = B::fetch_all(conn, statement).await?;
    Ok(rows.into_iter().map(|(portal,)| portal).collect())
}

/// Takes or renews a portal's hydration lease until `until_ms`, unless another holder's
/// lease runs past now; whether it is the caller's.
async fn lease_portal<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    request: &ClaimRequest<'_>,
) -> Result<bool, StoreError> {
    let lease = format!(
        "INSERT INTO hydration_leases (portal_id, holder, until) VALUES ($1, $2, {until}) \
        ON CONFLICT (portal_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
        WHERE hydration_leases.holder = excluded.holder OR hydration_leases.until <= {now}",
        until = B::at(3),
        now = B::at(4),
    );
    let statement = Statement::new(lease)
        .bind(portal_id)
        .bind(request.holder)
        .bind(request.until_ms)
        .bind(request.now_ms);
    Ok(B::execute(conn, statement).await? == 1)
}

/// Takes or extends a portal's hydration lease for `holder` until at least `until_ms`,
/// unless another holder's lease runs past `now_ms`; whether `holder` has it. Sync work
/// (backfill, reconciliation) holds it under its process's hydrator's name, so a portal's
/// calls come from one process at a time and its limiter is the only one counting them.
pub(crate) async fn hold_portal_calls<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    holder: &str,
    until_ms: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let hold = format!(
        "INSERT INTO hydration_leases (portal_id, holder, until) VALUES ($1, $2, {until}) \
        ON CONFLICT (portal_id) DO UPDATE SET holder = excluded.holder, until = {longer} \
        WHERE hydration_leases.holder = excluded.holder OR hydration_leases.until <= {now}",
        until = B::at(3),
        longer = B::greatest("hydration_leases.until", "excluded.until"),
        now = B::at(4),
    );
    let statement = Statement::new(hold)
        .bind(portal_id)
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms);
    Ok(B::execute(conn, statement).await? == 1)
}

/// Claims up to `limit` of a portal's due, unclaimed pending events, oldest first; their
/// ids and failed attempts so far.
async fn claim_portal<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    limit: i64,
    request: &ClaimRequest<'_>,
) -> Result<Vec<(i64, i32)>, StoreError> {
    // The picked ids are materialised: a plan that ran the `LIMIT` subquery again for each
    // row it updates would see other rows each time and claim them all.
    let claim = format!(
        "WITH picked AS MATERIALIZED (SELECT {key} AS key FROM inbox_queue \
            WHERE state = 'pending' AND portal_id = $3 \
            AND (next_attempt_at IS NULL OR next_attempt_at <= {now}) \
            AND (claimed_until IS NULL OR claimed_until <= {now}) \
            ORDER BY id LIMIT $5{skip_locked}) \
        UPDATE inbox_queue SET claimed_by = $1, claimed_until = {until} \
        WHERE {picked} \
        RETURNING id, attempts",
        key = B::PICKED_KEY,
        until = B::at(2),
        now = B::at(4),
        skip_locked = B::SKIP_LOCKED,
        picked = B::is_picked("state = 'pending' AND portal_id = $3 AND "),
    );
    let statement = Statement::new(claim)
        .bind(request.holder)
        .bind(request.until_ms)
        .bind(portal_id)
        .bind(request.now_ms)
        .bind(limit);
    B::fetch_all(conn, statement).await
}

/// An event's row, as a claim hands it out.
#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    #[sqlx(flatten)]
    key: EventKey,
    subscription_type: String,
    payload: String,
    trace_context: Option<String>,
}

/// The claimed events (id → failed attempts), in portal and id order.
async fn claimed_events<B: Backend>(
    store: &B,
    attempts: &BTreeMap<i64, i32>,
) -> Result<Vec<Claimed>, StoreError> {
    if attempts.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = attempts.keys().copied().collect();
    let events = format!(
        "SELECT id, portal_id, subscription_id, event_id, object_id, occurred_at, \
        subscription_type, {} AS payload, trace_context FROM inbox_events WHERE {}",
        B::json_text("payload"),
        B::in_ids("id", 1),
    );
    let rows: Vec<EventRow> = store
        .fetch_all_on_pool(Statement::new(events).bind(Bind::Ids(&ids)))
        .await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|row| Claimed {
            attempts: attempts.get(&row.id).copied().unwrap_or(0),
            id: row.id,
            key: row.key,
            subscription_type: row.subscription_type,
            payload: row.payload,
            trace_context: row.trace_context,
        })
        .collect();
    claimed.sort_by_key(|c| (c.key.portal_id, c.id));
    Ok(claimed)
}

/// Events set aside in `state`, oldest first, of one portal or all.
pub(crate) async fn set_aside_list<B: Backend>(
    store: &B,
    state: SetAside,
    portal_id: Option<PortalId>,
    limit: u32,
) -> Result<Vec<SetAsideEvent>, StoreError> {
    let statement = Statement::new(
        "SELECT q.id, q.portal_id, e.object_id, e.subscription_type, q.attempts, q.reason, \
        q.last_error FROM inbox_queue q JOIN inbox_events e ON e.id = q.id \
        WHERE q.state = $1 AND (CAST($2 AS BIGINT) IS NULL OR q.portal_id = $2) \
        ORDER BY q.id LIMIT $3",
    )
    .bind(state.as_str())
    .bind(portal_id)
    .bind(limit);
    store.fetch_all_on_pool(statement).await
}

/// Ends the claims a settlement decided on: finished (its queue row deleted), back to
/// pending, or set aside.
async fn end_claims<B: Backend>(
    conn: &mut B::Conn,
    holder: &str,
    settlement: &Settlement,
    now_ms: i64,
) -> Result<(), StoreError> {
    if !settlement.finished.is_empty() {
        let finish = format!("DELETE FROM inbox_queue WHERE {}", B::held_events(1, 2));
        let statement = Statement::new(finish)
            .bind(holder)
            .bind(Bind::Ids(&settlement.finished));
        B::execute(conn, statement).await?;
    }
    for retry in &settlement.retries {
        let update = format!(
            "UPDATE inbox_queue SET attempts = attempts + $1, next_attempt_at = {}, \
            last_error = coalesce($3, last_error), claimed_by = NULL, claimed_until = NULL \
            WHERE {}",
            B::at(2),
            B::held_events(4, 5)
        );
        let statement = Statement::new(update)
            .bind(i64::from(retry.error.is_some()))
            .bind(retry.due_ms)
            .bind(&retry.error)
            .bind(holder)
            .bind(Bind::Ids(&retry.ids));
        B::execute(conn, statement).await?;
    }
    for aside in &settlement.set_aside {
        let update = format!(
            "UPDATE inbox_queue SET state = $1, reason = $2, last_error = coalesce($3, last_error), \
            attempts = attempts + $4, finished_at = {}, claimed_by = NULL, claimed_until = NULL \
            WHERE {}",
            B::at(5),
            B::held_events(6, 7)
        );
        let statement = Statement::new(update)
            .bind(aside.state.as_str())
            .bind(&aside.reason)
            .bind(&aside.error)
            .bind(i64::from(aside.error.is_some()))
            .bind(now_ms)
            .bind(holder)
            .bind(Bind::Ids(&aside.ids));
        B::execute(conn, statement).await?;
    }
    Ok(())
}

/// Which portals a claim visits: up to `request.portals` with work after the cursor,
/// wrapping around to those before it; and how many events each gives.
async fn portals_to_visit<B: Backend>(
    conn: &mut B::Conn,
    request: &ClaimRequest<'_>,
) -> Result<(Vec<PortalId>, i64), StoreError> {
    let wanted = i64::from(request.portals);
    let mut portals = portals_with_work::<B>(conn, request.after_portal, wanted).await?;
    let found = portals.len() as i64;
    if let Some(cursor) = request.after_portal.filter(|_| found < wanted) {
        let first = portals_with_work::<B>(conn, None, wanted - found).await?;
        portals.extend(first.into_iter().filter(|p| *p <= cursor));
    }
    let share = request.round_events / (portals.len().max(1) as u32);
    let per_portal = i64::from(share.clamp(1, request.per_portal.max(1)));
    Ok((portals, per_portal))
}

#[async_trait]
impl<B: Backend> WorkQueue for B {
    async fn claim(&self, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>, StoreError> {
        // A claim that finds no work only reads: it takes no write lock from the receiver.
        if portals_to_visit::<B>(&mut *self.connection().await?, request)
            .await?
            .0
            .is_empty()
        {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let (portals, per_portal) = portals_to_visit::<B>(&mut tx, request).await?;
        let mut attempts = BTreeMap::new();
        for portal in portals {
            if lease_portal::<B>(&mut tx, portal, request).await? {
                attempts.extend(claim_portal::<B>(&mut tx, portal, per_portal, request).await?);
            }
        }
        B::commit(tx).await?;
        // The events themselves are read after the commit: an event's row never changes
        // (but for a privacy deletion emptying it, which wins anyway), and reading them
        // inside would hold SQLite's write lock for the time it takes.
        claimed_events(self, &attempts).await
    }

    async fn settle(
        &self,
        holder: &str,
        settlement: &Settlement,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let writable = writable_portals::<B>(&mut tx, holder, settlement).await?;
        end_claims::<B>(&mut tx, holder, settlement, now_ms).await?;
        write_records::<B>(&mut tx, settlement, &writable, now_ms).await?;
        B::commit(tx).await
    }

    async fn set_aside_events(
        &self,
        state: SetAside,
        portal_id: Option<PortalId>,
        limit: u32,
    ) -> Result<Vec<SetAsideEvent>, StoreError> {
        set_aside_list(self, state, portal_id, limit).await
    }

    async fn queue_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        // Done: the events without a queue row.
        let statement = Statement::new(
            "SELECT state, n FROM (SELECT state, count(*) AS n FROM inbox_queue GROUP BY state \
            UNION ALL SELECT 'done', (SELECT count(*) FROM inbox_events) \
                - (SELECT count(*) FROM inbox_queue)) AS counts \
            WHERE n > 0 ORDER BY state",
        );
        self.fetch_all_on_pool(statement).await
    }

    async fn queue_counts_by_portal(
        &self,
        portal: Option<PortalId>,
    ) -> Result<Vec<(PortalId, String, i64)>, StoreError> {
        // A range scan of `inbox_queue`'s key per state.
        let statement = Statement::new(
            "SELECT portal_id, state, count(*) FROM inbox_queue \
            WHERE state IN ('pending', 'dead', 'quarantined') \
            AND (CAST($1 AS BIGINT) IS NULL OR portal_id = $1) \
            GROUP BY portal_id, state ORDER BY portal_id, state",
        )
        .bind(portal);
        self.fetch_all_on_pool(statement).await
    }

    fn one_writer(&self) -> bool {
        B::ONE_WRITER
    }

    async fn prune_finished(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let aside = prune_set_aside::<B>(&mut tx, before_ms, limit).await?;
        let limit = u64::from(limit).saturating_sub(aside);
        // Done: received before the cut and without a queue row, oldest first.
        let done = format!(
            "DELETE FROM inbox_events WHERE id IN (SELECT e.id FROM inbox_events e \
            WHERE e.received_at < {} AND NOT EXISTS (SELECT 1 FROM inbox_queue q \
                WHERE q.state IN ('pending', 'quarantined', 'dead', 'unhandled') \
                AND q.portal_id = e.portal_id AND q.id = e.id) \
            ORDER BY e.received_at LIMIT $2)",
            B::at(1)
        );
        let statement = Statement::new(done)
            .bind(before_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let done = B::execute(&mut tx, statement).await?;
        B::commit(tx).await?;
        Ok(aside + done)
    }
}

/// Deletes up to `limit` events set aside before `before_ms` that retention ends: unhandled
/// ones, and quarantined ones whose portal is uninstalled, erased or was never installed (an
/// install that would release them is not coming); how many.
async fn prune_set_aside<B: Backend>(
    conn: &mut B::Conn,
    before_ms: i64,
    limit: u32,
) -> Result<u64, StoreError> {
    // The queue rows go first and say which events to delete: one an install released
    // meanwhile (pending again) is not deleted, so neither is its event.
    let expired = format!(
        "WITH expired AS MATERIALIZED (SELECT q.state, q.portal_id, q.id FROM inbox_queue q \
            WHERE q.state IN ('unhandled', 'quarantined') \
            AND q.finished_at < {} AND (q.state = 'unhandled' OR NOT EXISTS (SELECT 1 FROM portals p \
                WHERE p.portal_id = q.portal_id AND p.state IN ('installed', 'needs_reauth'))) \
            LIMIT $2) \
        DELETE FROM inbox_queue \
        WHERE (state, portal_id, id) IN (SELECT state, portal_id, id FROM expired) \
        RETURNING id",
        B::at(1)
    );
    let rows: Vec<(i64,)> =
        B::fetch_all(conn, Statement::new(expired).bind(before_ms).bind(limit)).await?;
    let ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let events = format!("DELETE FROM inbox_events WHERE {}", B::in_ids("id", 1));
    B::execute(conn, Statement::new(events).bind(Bind::Ids(&ids))).await
}
