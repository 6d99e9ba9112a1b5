//! What a portal's claimed events need before any call, decided from what is known without
//! HubSpot: the portal's install (none, uninstalled or needing a new one: quarantined), the
//! scopes it granted and those HubSpot refused, and each event's meaning ([`super::plan`]).
//! Deletions, merges' losers and privacy deletions are decided here; the events that need
//! a record are returned for reading, by object type and record id.

use std::collections::BTreeMap;

use hubspot::crm::ObjectType;
use store::{Claimed, Gone, ObjectId, Portal, PortalId, PortalState, SetAside};

use crate::workers::versions::RecordKey;

use super::decisions::{missing_scope, trace_of, Decisions};
use super::plan::{work, Work};
use super::types::TypeSelection;

/// The events of one object type to read, by record id.
pub(super) type Reads<'a> = BTreeMap<ObjectId, Vec<&'a Claimed>>;

/// What is being read: one object type of one portal, under its current install.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    pub(super) portal: PortalId,
    pub(super) installed_at: i64,
    pub(super) object: ObjectType,
}

impl Reading {
    pub(super) fn key(&self, id: ObjectId) -> RecordKey {
        RecordKey {
            portal: self.portal,
            installed_at: self.installed_at,
            object: self.object,
            id,
        }
    }
}

/// What a portal granted, under the install its events are served for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Granted {
    pub(super) scopes: Vec<String>,
    pub(super) installed_at: i64,
}

/// The install a portal's events are served under, or why they wait in quarantine.
pub(super) fn granted(portal: Option<Portal>) -> Result<Granted, &'static str> {
    match portal {
        Some(p) if p.state == PortalState::Installed => Ok(Granted {
            scopes: p.scopes,
            installed_at: p.installed_at,
        }),
        Some(p) if p.state == PortalState::NeedsReauth => {
            Err("the portal must install the app again")
        }
        Some(_) => Err("the app was uninstalled"),
        None => Err("the portal has not installed the app"),
    }
}

/// The object types spoke reads, and those of them whose read scope is optional.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hydrated<'c> {
    pub(super) objects: &'c TypeSelection,
    pub(super) optional: &'c TypeSelection,
}

/// The events left to read: records by type, and records' associations by type and other
/// type; each by record id. And the merges: a winner takes its losers' associations.
#[derive(Debug, Default)]
pub(super) struct Sorted<'a> {
    pub(super) records: BTreeMap<ObjectType, Reads<'a>>,
    pub(super) associations: BTreeMap<(ObjectType, ObjectType), Reads<'a>>,
    /// Associations to read again for no event (after merges and restores), once the
    /// events' reads are done.
    pub(super) refresh: BTreeMap<(ObjectType, ObjectType), Reads<'a>>,
    pub(super) merges: Vec<Merged>,
    /// Records restored: their associations come back with them.
    pub(super) restored: Vec<(ObjectType, ObjectId)>,
}

/// A merge: the records merged into the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Merged {
    pub(super) object: ObjectType,
    pub(super) winner: ObjectId,
    pub(super) losers: Vec<ObjectId>,
}

fn add<'a, K: Ord>(reads: &mut BTreeMap<K, Reads<'a>>, key: K, id: ObjectId, event: &'a Claimed) {
    reads
        .entry(key)
        .or_default()
        .entry(id)
        .or_default()
        .push(event);
}

/// Decides every event of `portal` that needs no call into `out`; the rest, to read.
/// `refused` says whether HubSpot refused a type's scope under this install.
pub(super) fn sort<'a>(
    out: &mut Decisions,
    portal: PortalId,
    granted: &Granted,
    events: &'a [Claimed],
    hydrated: Hydrated<'_>,
    refused: impl Fn(ObjectType) -> bool,
) -> Sorted<'a> {
    let mut sorted = Sorted::default();
    // Why a read of these types cannot be made for this portal, and whether it waits in
    // quarantine (rather than being kept unhandled).
    let blocked = |types: &[ObjectType]| {
        types.iter().find_map(|&object| {
            if object.readable_with(&granted.scopes) {
                return refused(object).then(|| (missing_scope(object), true));
            }
            let scope = object.read_scope();
            Some(if hydrated.optional.includes(object) {
                (
                    format!("the portal did not grant the optional scope `{scope}`"),
                    false,
                )
            } else {
                (format!("the portal did not grant `{scope}`"), true)
            })
        })
    };
    for event in events {
        let at = event.key.occurred_at;
        let work = work(event, hydrated.objects);
        let needs = match work {
            Work::Fetch { object, .. }
            | Work::Restore { object, .. }
            | Work::Merge { object, .. } => {
                vec![object]
            }
            Work::Associations { object, to, .. } => vec![object, to],
            _ => Vec::new(),
        };
        if let Some((reason, quarantined)) = blocked(&needs) {
            if quarantined {
                out.quarantine([event], &reason);
            } else {
                out.set_aside([event], SetAside::Unhandled, &reason, None);
            }
            continue;
        }
        match work {
            Work::Unhandled(reason) => out.set_aside([event], SetAside::Unhandled, &reason, None),
            Work::Fetch { object, id } => add(&mut sorted.records, object, id, event),
            Work::Restore { object, id } => {
                add(&mut sorted.records, object, id, event);
                sorted.restored.push((object, id));
            }
            Work::Associations { object, id, to } => {
                add(&mut sorted.associations, (object, to), id, event)
            }
            Work::Delete { object, id } => {
                out.gone(portal, object, id, Gone::Deleted, at, trace_of(event));
                out.finish([event])
            }
            Work::Merge {
                object,
                winner,
                losers,
            } => {
                for &loser in &losers {
                    out.gone(portal, object, loser, Gone::Merged, at, trace_of(event));
                }
                add(&mut sorted.records, object, winner, event);
                sorted.merges.push(Merged {
                    object,
                    winner,
                    losers,
                });
            }
            Work::Erase { object, id } => {
                out.erase(portal, granted.installed_at, object, id, trace_of(event));
                out.finish([event])
            }
        }
    }
    sorted
}

#[cfg(test)]
mod tests {
    use store::EventKey;

    use super::*;

    const PORTAL: i64 = 7;

    fn event(id: i64, subscription_type: &str, object_id: ObjectId, payload: &str) -> Claimed {
        Claimed {
            id,
            key: EventKey {
                portal_id: PortalId(PORTAL),
                subscription_id: 1,
                event_id: id,
                object_id,
                occurred_at: 1_000 + id,
            },
            subscription_type: subscription_type.into(),
            payload: payload.into(),
            attempts: 0,
            trace_context: None,
        }
    }

    fn granted_contacts_and_deals() -> Granted {
        Granted {
            scopes: vec![
                "crm.objects.contacts.read".into(),
                "crm.objects.deals.read".into(),
            ],
            installed_at: 500,
        }
    }

    fn portal(state: PortalState) -> Portal {
        Portal {
            portal_id: PortalId(PORTAL),
            state,
            hub_domain: None,
            app_id: None,
            scopes: vec!["oauth".into()],
            installer_id: None,
            installer_email: None,
            reauth_reason: None,
            installed_at: 500,
            updated_at: 500,
            access_expires_at: None,
        }
    }

    #[test]
    fn only_an_installed_portal_is_served() {
        assert_eq!(
            granted(Some(portal(PortalState::Installed))),
            Ok(Granted {
                scopes: vec!["oauth".into()],
                installed_at: 500
            })
        );
        assert_eq!(
            granted(Some(portal(PortalState::NeedsReauth))),
            Err("the portal must install the app again")
        );
        assert_eq!(
            granted(Some(portal(PortalState::Uninstalled))),
            Err("the app was uninstalled")
        );
        assert_eq!(granted(None), Err("the portal has not installed the app"));
    }

    #[test]
    fn each_event_is_decided_or_read_and_none_is_lost() {
        let merge = r#"{"eventId":5,"portalId":7,"subscriptionType":"deal.merge","objectId":40,"primaryObjectId":40,"mergedObjectIds":[41,42]}"#;
        let events = [
            event(1, "contact.creation", ObjectId(10), "{}"),
            event(2, "contact.propertyChange", ObjectId(10), "{}"),
            event(3, "contact.deletion", ObjectId(11), "{}"),
            event(4, "contact.privacyDeletion", ObjectId(12), "{}"),
            event(5, "deal.merge", ObjectId(40), merge),
            event(6, "company.creation", ObjectId(20), "{}"),
            event(7, "ticket.creation", ObjectId(30), "{}"),
            event(9, "line_item.creation", ObjectId(50), "{}"),
        ];
        let objects = TypeSelection::parse("contacts companies deals line_items").unwrap();
        let optional = TypeSelection::parse("line_items").unwrap();
        let hydrated = Hydrated {
            objects: &objects,
            optional: &optional,
        };
        let mut out = Decisions::new(2_000);
        let reads = sort(
            &mut out,
            PortalId(PORTAL),
            &granted_contacts_and_deals(),
            &events,
            hydrated,
            |_| false,
        );

        // Two changes of one contact make one read; the merge reads its winner.
        let read_ids = |object| -> Vec<(i64, Vec<i64>)> {
            reads.records[&object]
                .iter()
                .map(|(id, events)| (id.0, events.iter().map(|e| e.id).collect()))
                .collect()
        };
        assert_eq!(read_ids(ObjectType::CONTACTS), [(10, vec![1, 2])]);
        assert_eq!(read_ids(ObjectType::DEALS), [(40, vec![5])]);
        assert_eq!(reads.records.len(), 2);
        // The deletion and the erasure need no call; the merge's losers are marked.
        assert_eq!(out.settlement.finished, [3, 4]);
        let gone: Vec<(i64, Gone)> = out
            .settlement
            .gone
            .iter()
            .map(|g| (g.object_id.0, g.gone))
            .collect();
        assert_eq!(
            gone,
            [(11, Gone::Deleted), (41, Gone::Merged), (42, Gone::Merged)]
        );
        assert_eq!(out.settlement.erased.len(), 1);
        assert_eq!(out.settlement.erased[0].object_id, ObjectId(12));
        assert_eq!(out.erased.len(), 1, "the cache forgets the erased record");

        // A type without its required scope waits in quarantine; an unhydrated type, an
        // unhandled event and a type whose optional scope was not granted are kept and
        // marked.
        let aside: Vec<(Vec<i64>, SetAside, &str)> = out
            .settlement
            .set_aside
            .iter()
            .map(|a| (a.ids.clone(), a.state, a.reason.as_str()))
            .collect();
        assert_eq!(
            aside,
            [
                (
                    vec![6],
                    SetAside::Quarantined,
                    "the portal did not grant `crm.objects.companies.read`"
                ),
                (
                    vec![7],
                    SetAside::Unhandled,
                    "tickets are not hydrated (SPOKE_HYDRATOR_OBJECTS; read with `tickets`)"
                ),
                (
                    vec![9],
                    SetAside::Unhandled,
                    "the portal did not grant the optional scope `e-commerce`"
                ),
            ]
        );
    }

    /// An association change reads the record's associations to the other type, when the
    /// portal granted both types' scopes.
    #[test]
    fn an_association_change_is_read_when_both_types_are_granted() {
        let association = |id: i64, to: &str| {
            let payload = format!(
                r#"{{"eventId":{id},"portalId":7,"subscriptionType":"contact.associationChange","objectId":10,"fromObjectId":10,"toObjectId":40,"associationType":"CONTACT_TO_{to}"}}"#
            );
            event(id, "contact.associationChange", ObjectId(10), &payload)
        };
        let events = [association(1, "DEAL"), association(2, "COMPANY")];
        let objects = TypeSelection::parse("contacts companies deals").unwrap();
        let hydrated = Hydrated {
            objects: &objects,
            optional: &TypeSelection::default(),
        };
        let mut out = Decisions::new(2_000);
        let granted = granted_contacts_and_deals();
        let reads = sort(
            &mut out,
            PortalId(PORTAL),
            &granted,
            &events,
            hydrated,
            |_| false,
        );
        let associations: Vec<_> = reads
            .associations
            .iter()
            .map(|(types, by_id)| (*types, by_id.keys().copied().collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            associations,
            [(
                (ObjectType::CONTACTS, ObjectType::DEALS),
                vec![ObjectId(10)]
            )]
        );
        let aside = &out.settlement.set_aside;
        assert_eq!((aside.len(), aside[0].ids.as_slice()), (1, &[2][..]));
        assert_eq!(aside[0].state, SetAside::Quarantined);
        assert_eq!(
            aside[0].reason,
            "the portal did not grant `crm.objects.companies.read`"
        );
    }

    #[test]
    fn a_type_hubspot_refused_is_not_read_again_under_the_same_install() {
        let events = [event(1, "deal.creation", ObjectId(40), "{}")];
        let mut out = Decisions::new(2_000);
        let reads = sort(
            &mut out,
            PortalId(PORTAL),
            &granted_contacts_and_deals(),
            &events,
            Hydrated {
                objects: &TypeSelection::parse("contacts deals").unwrap(),
                optional: &TypeSelection::default(),
            },
            |object| object == ObjectType::DEALS,
        );
        assert!(reads.records.is_empty() && reads.associations.is_empty());
        assert_eq!(out.settlement.set_aside[0].state, SetAside::Quarantined);
        assert_eq!(
            out.settlement.set_aside[0].reason,
            missing_scope(ObjectType::DEALS)
        );
    }
}
