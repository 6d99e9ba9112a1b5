//! What a hydration round decided, and how it is written beside its events' new states:
//! fetched records, deletions and privacy deletions into the mirror, associations read into
//! the association mirror, each change either accepts queued for the sinks, only for
//! portals the round may still write for.

use std::collections::BTreeSet;

use crate::associations::{self, AssociationSet};
use crate::backend::{Backend, Bind, Statement};
use crate::mirror::{self, ErasedRecord, GoneRecord, MirroredRecord};
use crate::sink_queue::{self, Change};
use crate::{PortalId, Retry, SetAside, StoreError};

/// Events set aside with a reason; with an `error` (a dead letter's last one) the attempt
/// that ended them counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    pub ids: Vec<i64>,
    pub state: SetAside,
    pub reason: String,
    pub error: Option<String>,
}

/// What a hydration round (or a few of its portals) decided for its claimed events,
/// written in one transaction rather than one per portal and outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    pub finished: Vec<i64>,
    pub retries: Vec<Retry>,
    pub set_aside: Vec<Aside>,
    /// Fetched records, stored as live unless the mirror holds a newer version.
    pub records: Vec<MirroredRecord>,
    pub gone: Vec<GoneRecord>,
    pub erased: Vec<ErasedRecord>,
    /// Associations read, each replacing what the mirror held for its record and type.
    pub associations: Vec<AssociationSet>,
    /// The sinks each change the mirror accepts is queued for ([`crate::SinkQueue`]).
    pub sinks: Vec<String>,
}

impl Settlement {
    /// How many events it settles.
    pub fn events(&self) -> usize {
        self.finished.len()
            + self.retries.iter().map(|r| r.ids.len()).sum::<usize>()
            + self.set_aside.iter().map(|a| a.ids.len()).sum::<usize>()
    }

    /// Takes in another part's decisions (rounds settle portals concurrently); the sinks
    /// stay this settlement's.
    pub fn absorb(&mut self, other: Settlement) {
        self.finished.extend(other.finished);
        self.retries.extend(other.retries);
        self.set_aside.extend(other.set_aside);
        self.records.extend(other.records);
        self.gone.extend(other.gone);
        self.erased.extend(other.erased);
        self.associations.extend(other.associations);
    }
}

/// The portals a settlement may write for: those of the events `holder` still holds, while
/// the portal is known (an erased one is not). Their rows are held until the settlement
/// commits, so an erase waits for it or it sees the erase.
#[derive(Debug, Default)]
pub(crate) struct Writable {
    /// Known: privacy deletions are applied (an uninstalled portal's data is still here).
    known: BTreeSet<PortalId>,
    /// Known and not uninstalled: fetched records and deletions are written.
    live: BTreeSet<PortalId>,
}

impl Writable {
    /// One portal in `state` (a `portals.state`), whose row the caller holds.
    pub(crate) fn of_portal(portal: PortalId, state: &str) -> Self {
        let mut writable = Self::default();
        writable.known.insert(portal);
        if state != "uninstalled" {
            writable.live.insert(portal);
        }
        writable
    }
}

pub(crate) async fn writable_portals<B: Backend>(
    conn: &mut B::Conn,
    holder: &str,
    settlement: &Settlement,
) -> Result<Writable, StoreError> {
    let events: Vec<i64> = settlement
        .finished
        .iter()
        .chain(settlement.retries.iter().flat_map(|r| &r.ids))
        .chain(settlement.set_aside.iter().flat_map(|a| &a.ids))
        .copied()
        .collect();
    let held = format!(
        "SELECT p.portal_id, p.state FROM portals p WHERE p.portal_id IN \
        (SELECT portal_id FROM inbox_queue WHERE {}){}",
        B::held_events(1, 2),
        B::FOR_SHARE
    );
    let statement = Statement::new(held).bind(holder).bind(Bind::Ids(&events));
    let rows: Vec<(PortalId, String)> = B::fetch_all(conn, statement).await?;
    let mut writable = Writable::default();
    for (portal, state) in rows {
        writable.known.insert(portal);
        if state != "uninstalled" {
            writable.live.insert(portal);
        }
    }
    Ok(writable)
}

/// Writes a settlement's records and deletions of live portals, and its privacy deletions
/// of known ones, to the mirror (newer wins), and queues each change the mirror accepted
/// for the settlement's sinks.
pub(crate) async fn write_records<B: Backend>(
    conn: &mut B::Conn,
    settlement: &Settlement,
    writable: &Writable,
    now_ms: i64,
) -> Result<(), StoreError> {
    let sinks = &settlement.sinks;
    let live = |portal: &PortalId| writable.live.contains(portal);
    for r in settlement.records.iter().filter(|r| live(&r.portal_id)) {
        if mirror::store::<B>(conn, r).await? && !sinks.is_empty() {
            let change = Change {
                portal_id: r.portal_id,
                object_type: &r.object_type,
                object_id: r.object_id,
                state: "live",
                properties: &r.properties,
                version: r.updated_at,
                trace: r.trace.as_deref(),
            };
            sink_queue::enqueue::<B>(conn, sinks, &change, now_ms).await?;
        }
    }
    for set in settlement
        .associations
        .iter()
        .filter(|a| live(&a.portal_id))
    {
        write_associations::<B>(conn, set, sinks, now_ms).await?;
    }
    for g in settlement.gone.iter().filter(|g| live(&g.portal_id)) {
        if !mirror::mark_gone::<B>(conn, g, now_ms).await? {
            continue;
        }
        associations::forget_record::<B>(conn, g.portal_id, &g.object_type, g.object_id).await?;
        if !sinks.is_empty() {
            let change = Change {
                portal_id: g.portal_id,
                object_type: &g.object_type,
                object_id: g.object_id,
                state: g.gone.as_str(),
                properties: "{}",
                version: g.at_ms,
                trace: g.trace.as_deref(),
            };
            sink_queue::enqueue::<B>(conn, sinks, &change, now_ms).await?;
        }
    }
    let known = |portal: &PortalId| writable.known.contains(portal);
    for e in settlement.erased.iter().filter(|e| known(&e.portal_id)) {
        mirror::forget::<B>(conn, e, now_ms).await?;
        associations::forget_record::<B>(conn, e.portal_id, &e.object_type, e.object_id).await?;
        empty_events::<B>(conn, e).await?;
        sink_queue::forget::<B>(conn, e, now_ms).await?;
        if !sinks.is_empty() {
            let change = Change {
                portal_id: e.portal_id,
                object_type: &e.object_type,
                object_id: e.object_id,
                state: "erased",
                properties: "{}",
                version: now_ms,
                trace: e.trace.as_deref(),
            };
            sink_queue::enqueue::<B>(conn, sinks, &change, now_ms).await?;
        }
    }
    Ok(())
}

/// Writes one read of a record's associations, and queues each association it added,
/// changed or removed for the sinks, as a change of the record it is read from (so they
/// reach a sink in order with the record's own changes).
async fn write_associations<B: Backend>(
    conn: &mut B::Conn,
    set: &AssociationSet,
    sinks: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    let changes = associations::write::<B>(conn, set).await?;
    if sinks.is_empty() {
        return Ok(());
    }
    for change in changes {
        let kinds = change.kinds.as_deref().unwrap_or("[]");
        let association = format!(
            r#"{{"toObjectType":{},"toObjectId":{},"types":{kinds}}}"#,
            serde_json::Value::from(set.to_type.as_str()),
            change.to_id.0
        );
        let change = Change {
            portal_id: set.portal_id,
            object_type: &set.from_type,
            object_id: set.from_id,
            state: if change.kinds.is_some() {
                sink_queue::ASSOCIATED
            } else {
                sink_queue::DISSOCIATED
            },
            properties: &association,
            version: set.read_at,
            trace: set.trace.as_deref(),
        };
        sink_queue::enqueue::<B>(conn, sinks, &change, now_ms).await?;
    }
    Ok(())
}

/// Empties the stored payloads of a privacy-deleted record's events (`<singular>.*`, and
/// `object.*` naming its type id, for the id; dead letters included) and finishes those
/// still pending.
async fn empty_events<B: Backend>(
    conn: &mut B::Conn,
    erased: &ErasedRecord,
) -> Result<(), StoreError> {
    let type_id = B::json_field("payload", "objectTypeId");
    let events = format!(
        "portal_id = $1 AND object_id = $2 AND (subscription_type LIKE $3 \
        OR (subscription_type LIKE 'object.%' AND {type_id} = $4))"
    );
    // No legacy events: `LIKE NULL` matches nothing, the generic ones are matched by id.
    let events_of_type = erased.singular.as_ref().map(|name| format!("{name}.%"));
    let of_record = |sql: String| {
        Statement::new(sql)
            .bind(erased.portal_id)
            .bind(erased.object_id)
            .bind(&events_of_type)
            .bind(&erased.type_id)
    };
    let finish = format!(
        "DELETE FROM inbox_queue WHERE state = 'pending' AND portal_id = $1 \
        AND id IN (SELECT id FROM inbox_events WHERE {events})"
    );
    B::execute(conn, of_record(finish)).await?;
    let empty = format!("UPDATE inbox_events SET payload = '{{}}' WHERE {events}");
    B::execute(conn, of_record(empty)).await?;
    Ok(())
}
