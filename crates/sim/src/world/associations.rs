//! Associations between records, as HubSpot's v4 associations API and its date-versioned
//! twin serve them: each is directional (from a record to records of one type), carries
//! its association types (category, type id, label), and changing one notifies both sides
//! (reference §2.4: `*.associationChange` fires once for each side).

use std::collections::BTreeMap;

use rand::Rng;
use serde::Serialize;

use super::{ChangeError, WebhookEvent, World};
use crate::objects::{ObjectType, Simulated, CARS};

/// One association type of an association (`AssociationSpecWithLabel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    pub category: &'static str,
    pub type_id: i32,
    /// Unlabelled associations have none (the spec's `label` is a string, never `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The records of one type a record is associated with, by id.
pub type Associated = BTreeMap<i64, Vec<AssociationSpec>>;

/// HubSpot's unlabelled default association type between two types (HubSpot-defined ids
/// for the common pairs; the simulator numbers the rest itself).
fn default_type_id(from: ObjectType, to: ObjectType) -> i32 {
    const KNOWN: [(ObjectType, ObjectType, i32); 14] = [
        (ObjectType::CONTACTS, ObjectType::COMPANIES, 279),
        (ObjectType::COMPANIES, ObjectType::CONTACTS, 280),
        (ObjectType::DEALS, ObjectType::CONTACTS, 3),
        (ObjectType::CONTACTS, ObjectType::DEALS, 4),
        (ObjectType::DEALS, ObjectType::COMPANIES, 341),
        (ObjectType::COMPANIES, ObjectType::DEALS, 342),
        (ObjectType::CONTACTS, ObjectType::TICKETS, 15),
        (ObjectType::TICKETS, ObjectType::CONTACTS, 16),
        (ObjectType::DEALS, ObjectType::LINE_ITEMS, 19),
        (ObjectType::LINE_ITEMS, ObjectType::DEALS, 20),
        (ObjectType::DEALS, ObjectType::TICKETS, 27),
        (ObjectType::TICKETS, ObjectType::DEALS, 28),
        (ObjectType::TICKETS, ObjectType::COMPANIES, 339),
        (ObjectType::COMPANIES, ObjectType::TICKETS, 340),
    ];
    KNOWN
        .iter()
        .find(|(f, t, _)| *f == from && *t == to)
        .map_or(1_000 + 32 * from.rank() as i32 + to.rank() as i32, |k| k.2)
}

/// Pairs of types whose records the simulated activity associates.
const ACTIVE_PAIRS: [(ObjectType, ObjectType); 8] = [
    (ObjectType::CONTACTS, ObjectType::COMPANIES),
    (ObjectType::CONTACTS, ObjectType::DEALS),
    (ObjectType::DEALS, ObjectType::COMPANIES),
    (ObjectType::DEALS, ObjectType::LINE_ITEMS),
    (ObjectType::TICKETS, ObjectType::CONTACTS),
    (ObjectType::CALLS, ObjectType::CONTACTS),
    (ObjectType::NOTES, ObjectType::DEALS),
    (CARS, ObjectType::CONTACTS),
];

impl World {
    /// `changes` random association changes in installed portals: two random records of a
    /// pair of types are associated, or, if they were, no longer are.
    pub fn random_association_changes(
        &mut self,
        rng: &mut impl Rng,
        changes: u32,
        now: i64,
    ) -> Vec<WebhookEvent> {
        let candidates = self.installed_among(&[]);
        let mut events = Vec::new();
        if candidates.is_empty() || self.shape.records_per_type == 0 {
            return events;
        }
        for _ in 0..changes {
            let portal = candidates[rng.random_range(0..candidates.len())];
            let (from, to) = ACTIVE_PAIRS[rng.random_range(0..ACTIVE_PAIRS.len())];
            let mut pick = |object: ObjectType| {
                let index = rng.random_range(1..=i64::from(self.shape.records_per_type));
                (object, object.id_base() + index)
            };
            let (from, to) = (pick(from), pick(to));
            let associated = self
                .associated(portal, from.0, from.1, to.0)
                .contains_key(&to.1);
            let change = if associated {
                self.dissociate(portal, from, to, now)
            } else {
                self.associate(portal, from, to, now)
            };
            events.extend(change.unwrap_or_default());
        }
        events
    }

    /// The records of type `to` that record `from_id` is associated with.
    pub fn associated(
        &self,
        portal: i64,
        from: ObjectType,
        from_id: i64,
        to: ObjectType,
    ) -> Associated {
        self.associations
            .get(&(portal, from, from_id, to))
            .cloned()
            .unwrap_or_default()
    }

    /// Associates two live records with the default (unlabelled) type, both ways, as the
    /// v4 "associate records (default)" call does; each side's change event follows.
    pub fn associate(
        &mut self,
        portal: i64,
        (from, from_id): (ObjectType, i64),
        (to, to_id): (ObjectType, i64),
        now: i64,
    ) -> Result<Vec<WebhookEvent>, ChangeError> {
        self.live(portal, from, from_id)?;
        self.live(portal, to, to_id)?;
        let spec = |f, t| AssociationSpec {
            category: "HUBSPOT_DEFINED",
            type_id: default_type_id(f, t),
            label: None,
        };
        let forward = self
            .associations
            .entry((portal, from, from_id, to))
            .or_default();
        forward.insert(to_id, vec![spec(from, to)]);
        let back = self
            .associations
            .entry((portal, to, to_id, from))
            .or_default();
        back.insert(from_id, vec![spec(to, from)]);
        Ok(self.association_events(portal, (from, from_id), (to, to_id), false, now))
    }

    /// Removes every association between two records, both ways; each side's change event
    /// follows. Records with no association between them are a `NoRecord`.
    pub fn dissociate(
        &mut self,
        portal: i64,
        (from, from_id): (ObjectType, i64),
        (to, to_id): (ObjectType, i64),
        now: i64,
    ) -> Result<Vec<WebhookEvent>, ChangeError> {
        self.portal(portal).ok_or(ChangeError::NoPortal)?;
        let removed = self
            .associations
            .get_mut(&(portal, from, from_id, to))
            .and_then(|a| a.remove(&to_id))
            .is_some();
        if !removed {
            return Err(ChangeError::NoRecord);
        }
        if let Some(back) = self.associations.get_mut(&(portal, to, to_id, from)) {
            back.remove(&from_id);
        }
        Ok(self.association_events(portal, (from, from_id), (to, to_id), true, now))
    }

    /// Gives a merge's winner the loser's associations, both ways, as HubSpot does (it
    /// sends no association change for them: unverified, so spoke does not count on any).
    pub(super) fn move_associations(
        &mut self,
        portal: i64,
        object: ObjectType,
        loser: i64,
        winner: i64,
    ) {
        let keys: Vec<_> = self
            .associations
            .keys()
            .filter(|(p, from, from_id, _)| *p == portal && *from == object && *from_id == loser)
            .copied()
            .collect();
        for key @ (_, _, _, to) in keys {
            for (to_id, kinds) in self.associations.remove(&key).unwrap_or_default() {
                if to == object && to_id == winner {
                    // The two merged records were associated: nothing is left of it.
                    if let Some(back) = self.associations.get_mut(&(portal, to, to_id, object)) {
                        back.remove(&loser);
                    }
                    continue;
                }
                let back = self
                    .associations
                    .entry((portal, to, to_id, object))
                    .or_default();
                if let Some(back_kinds) = back.remove(&loser) {
                    back.insert(winner, back_kinds);
                }
                self.associations
                    .entry((portal, object, winner, to))
                    .or_default()
                    .insert(to_id, kinds);
            }
        }
    }

    /// Forgets a record's associations (it was erased), both ways.
    pub(super) fn forget_associations(&mut self, portal: i64, object: ObjectType, id: i64) {
        let keys: Vec<_> = self
            .associations
            .keys()
            .filter(|(p, from, from_id, _)| *p == portal && *from == object && *from_id == id)
            .copied()
            .collect();
        for key @ (_, _, _, to) in keys {
            for to_id in self
                .associations
                .remove(&key)
                .unwrap_or_default()
                .into_keys()
            {
                if let Some(back) = self.associations.get_mut(&(portal, to, to_id, object)) {
                    back.remove(&id);
                }
            }
        }
    }

    /// The change events of both sides of an association (those the app subscribes to).
    fn association_events(
        &mut self,
        portal: i64,
        (from, from_id): (ObjectType, i64),
        (to, to_id): (ObjectType, i64),
        removed: bool,
        now: i64,
    ) -> Vec<WebhookEvent> {
        let mut events = Vec::new();
        for ((this, this_id), (other, other_id)) in [
            ((from, from_id), (to, to_id)),
            ((to, to_id), (from, from_id)),
        ] {
            // Legacy events name both types from HubSpot's fixed list (reference §2.3), which
            // has only types with legacy events: a change with another type is not sent so.
            let legacy = self
                .subscriptions
                .iter()
                .find(|s| s.wants(this, "associationChange", None))
                .is_some_and(|s| s.object_type_id.is_none());
            if legacy && other.legacy_name().is_none() {
                continue;
            }
            let Some(mut event) = self.event(portal, this, "associationChange", None, now, this_id)
            else {
                continue;
            };
            event.from_object_id = Some(this_id);
            event.to_object_id = Some(other_id);
            event.association_removed = Some(removed);
            event.is_primary_association = Some(false);
            if event.object_type_id.is_some() {
                event.from_object_type_id = Some(this.type_id().into_owned());
                event.to_object_type_id = Some(other.type_id().into_owned());
            } else {
                event.association_type =
                    Some(format!("{}_TO_{}", this.upper_name(), other.upper_name()));
            }
            events.push(event);
        }
        events
    }
}
