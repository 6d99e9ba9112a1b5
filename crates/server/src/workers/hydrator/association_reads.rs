//! One portal's reads of its records' associations to one other type: 1,000 records a
//! call, within the portal's limit. HubSpot's answer is the truth of what each record is
//! associated with now, so association changes arriving out of order, twice (once per
//! side) or for both sides need no ordering: each read replaces what the mirror held.

use std::collections::{BTreeMap, BTreeSet};

use hubspot::associations::{AssociationRead, MAX_ASSOCIATION_BATCH};
use hubspot::crm::ObjectType;
use store::{AssociationSet, ObjectId, PortalId, Store, StoreError};
use tracing::Instrument;

use super::answer::events_of;
use super::decisions::Decisions;
use super::reads::{Flow, Reader};
use super::sort::{Reading, Reads, Sorted};
use crate::telemetry::context;

/// A merge's winner takes its losers' associations in HubSpot, with no association change
/// to say so: the winner's associations are read again to the type of every record the
/// mirror holds associated with the winner or a loser (from either side), and so are those
/// records' associations to the merged type (now with the winner), for the types `readable`
/// in the portal. No event waits on these reads: one that fails, or that the round has no
/// time or calls left for, leaves the mirror without the moved associations until they
/// change again (or a reconciliation reads them).
pub(super) async fn read_after_merges(
    store: &dyn Store,
    portal: PortalId,
    sorted: &mut Sorted<'_>,
    readable: impl Fn(ObjectType) -> bool,
) -> Result<(), StoreError> {
    for merge in std::mem::take(&mut sorted.merges) {
        let ids: Vec<ObjectId> = merge.losers.iter().copied().chain([merge.winner]).collect();
        let name = merge.object.path_name();
        let from_them = store.associations_of(portal, &name, &ids).await?;
        let to_them = store.associations_to(portal, &name, &ids).await?;
        let others: BTreeSet<(ObjectType, ObjectId)> = from_them
            .iter()
            .map(|a| (a.to_type.as_str(), a.to_id))
            .chain(to_them.iter().map(|a| (a.from_type.as_str(), a.from_id)))
            .filter_map(|(other, id)| Some((ObjectType::from_path(other)?, id)))
            .filter(|(other, _)| readable(*other))
            .collect();
        let mut refresh = |from: ObjectType, id: ObjectId, to: ObjectType| {
            let by_id = sorted.refresh.entry((from, to)).or_default();
            by_id.entry(id).or_default();
        };
        for &(other, other_id) in &others {
            refresh(merge.object, merge.winner, other);
            refresh(other, other_id, merge.object);
        }
    }
    Ok(())
}

/// HubSpot restores a record's associations with it, with no association change: each
/// restored record's associations are read again to each of `types` (those the portal lets
/// spoke read). Which records are restored, for [`other_sides`] once those reads are in.
pub(super) fn read_after_restores(
    sorted: &mut Sorted<'_>,
    types: &[ObjectType],
) -> Vec<(ObjectType, ObjectId)> {
    let restored = std::mem::take(&mut sorted.restored);
    for &(object, id) in &restored {
        for &to in types {
            let by_id = sorted.refresh.entry((object, to)).or_default();
            by_id.entry(id).or_default();
        }
    }
    restored
}

/// The reads of the other side of each association `out` holds for `records`: those
/// records' associations back to the record's type (restored on both sides). No event
/// waits on them.
pub(super) fn other_sides(
    out: &Decisions,
    records: &[(ObjectType, ObjectId)],
) -> BTreeMap<(ObjectType, ObjectType), Reads<'static>> {
    let mut reads: BTreeMap<(ObjectType, ObjectType), Reads<'static>> = BTreeMap::new();
    for set in &out.settlement.associations {
        let Some(from) = ObjectType::from_path(&set.from_type) else {
            continue;
        };
        let Some(to) = ObjectType::from_path(&set.to_type) else {
            continue;
        };
        if !records.contains(&(from, set.from_id)) {
            continue;
        }
        for (to_id, _) in &set.associated {
            reads
                .entry((to, from))
                .or_default()
                .entry(*to_id)
                .or_default();
        }
    }
    reads
}

impl Reader<'_> {
    /// Reads the associations to `to` of the records `by_id` names.
    pub(super) async fn read_associations(
        &self,
        out: &mut Decisions,
        reading: Reading,
        to: ObjectType,
        by_id: Reads<'_>,
    ) {
        let ids: Vec<ObjectId> = by_id.keys().copied().collect();
        for (index, chunk) in ids.chunks(MAX_ASSOCIATION_BATCH).enumerate() {
            let rest = &ids[index * MAX_ASSOCIATION_BATCH..];
            if self.deadline.passed() {
                out.put_back(events_of(&by_id, rest));
                return;
            }
            if let Err(wait) = self.crm.slot(reading.portal).await {
                out.wait_for_limit(events_of(&by_id, rest), wait);
                return;
            }
            let span = tracing::info_span!(
                target: context::TRACED,
                parent: None,
                "hydrate.associations",
                portal_id = reading.portal.0,
                object_type = %reading.object,
                to_object_type = %to,
                records = chunk.len() as i64,
            );
            let trace = context::traceparent(&span);
            let read = self
                .crm
                .association_batch_read(reading.portal, reading.object, to, chunk)
                .instrument(span)
                .await;
            let flow = match read {
                Ok(read) => {
                    decide_associations(out, reading, to, &by_id, &read, trace, self.max_attempts);
                    Flow::Continue
                }
                Err(failure) => {
                    let with = Some(to);
                    self.decide_failure(out, reading, with, &by_id, (chunk, rest), failure)
                }
            };
            if flow == Flow::Stop {
                return;
            }
        }
    }
}

/// What one answer decides: each record read has its associations written and its events
/// finished; each record HubSpot did not read is a failed attempt of its events.
fn decide_associations(
    out: &mut Decisions,
    reading: Reading,
    to: ObjectType,
    by_id: &Reads<'_>,
    read: &AssociationRead,
    trace: Option<String>,
    max_attempts: u32,
) {
    for (from_id, associated) in &read.read {
        let Some(events) = by_id.get(&ObjectId(*from_id)) else {
            continue;
        };
        let associated = associated
            .iter()
            .map(|a| {
                let kinds = serde_json::to_string(&a.kinds).expect("kinds serialise");
                (ObjectId(a.to_id), kinds)
            })
            .collect();
        out.settlement.associations.push(AssociationSet {
            portal_id: reading.portal,
            from_type: reading.object.path_name().into_owned(),
            from_id: ObjectId(*from_id),
            to_type: to.path_name().into_owned(),
            associated,
            complete: !read.paged.contains(from_id),
            read_at: out.now,
            trace: trace.clone(),
        });
        out.finish(events.iter().copied());
    }
    for unread in &read.unread {
        if let Some(events) = by_id.get(&ObjectId(unread.id)) {
            let error = format!(
                "HubSpot did not read the associations ({})",
                unread.category
            );
            out.failed_with(events.clone(), &error, max_attempts);
        }
    }
}
