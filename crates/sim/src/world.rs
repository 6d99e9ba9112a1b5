//! The simulated HubSpot accounts: portals, their CRM records and the app's webhook
//! subscriptions. Records are generated from the seed until they change; changes live in an
//! overlay. Every change bumps the record's modification time and yields the change events
//! HubSpot would send for the app's active subscriptions (reference §2.3, §2.4).

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::objects::{generate, stamp, ObjectType, Record, Simulated, SIMULATED};
use crate::ratelimit::Limits;

/// One change notification, as HubSpot puts it in a delivery. `attempt_number` is set by
/// the dispatcher for each attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    pub event_id: i64,
    pub subscription_id: i64,
    pub portal_id: i64,
    pub app_id: i64,
    pub occurred_at: i64,
    pub subscription_type: String,
    pub attempt_number: u32,
    pub object_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_value: Option<String>,
    pub change_source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_flag: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_object_id: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_object_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_properties_moved: Option<u32>,
    /// Generic events (`object.*`) name the object's type here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_type_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_object_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_object_id: Option<i64>,
    /// Legacy association events name both types here: `CONTACT_TO_COMPANY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association_removed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_primary_association: Option<bool>,
    /// Generic association events name both types here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_object_type_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_object_type_id: Option<String>,
}

/// A webhook subscription of the app (reference §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: i64,
    /// `contact.creation`, or a generic `object.creation` for the type `object_type_id`.
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type_id: Option<String>,
    pub active: bool,
}

impl Subscription {
    /// The generic twin of a legacy subscription (`contact.creation` becomes
    /// `object.creation` for `0-1`), as apps on HubSpot's current platform subscribe.
    pub fn generic(&self) -> Self {
        let (object, action) = self.event_type.split_once('.').unwrap_or_default();
        match ObjectType::from_legacy_name(object) {
            Some(object) => Self {
                event_type: format!("object.{action}"),
                object_type_id: Some(object.type_id().into_owned()),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Whether this subscription wants `action` on `object`, for `property` if a change.
    fn wants(&self, object: ObjectType, action: &str, property: Option<&str>) -> bool {
        let legacy = object
            .legacy_name()
            .is_some_and(|name| self.event_type == format!("{name}.{action}"));
        let generic = self.event_type == format!("object.{action}")
            && self.object_type_id.as_deref() == Some(&*object.type_id());
        self.active && (legacy || generic) && self.property_name.as_deref() == property
    }
}

/// An account that can install the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Portal {
    pub portal_id: i64,
    pub installed: bool,
    pub limits: Limits,
}

/// What a change to a record could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("no such portal")]
    NoPortal,
    #[error("no such record")]
    NoRecord,
    #[error("the record is not archived")]
    NotArchived,
}

/// How a world is shaped; fixed for a run.
#[derive(Debug, Clone)]
pub struct Shape {
    pub seed: u64,
    pub app_id: i64,
    pub first_portal: i64,
    pub portals: u32,
    pub records_per_type: u32,
    pub limits: Limits,
}

#[derive(Debug)]
pub struct World {
    shape: Shape,
    portals: HashMap<i64, Portal>,
    /// Changed records; `None` once erased (privacy deletion) or merged away.
    records: HashMap<(i64, ObjectType, i64), Option<Record>>,
    created: HashMap<(i64, ObjectType), i64>,
    /// Associations from a record to records of one type: (portal, from type, from id, to
    /// type).
    associations: BTreeMap<(i64, ObjectType, i64, ObjectType), Associated>,
    subscriptions: Vec<Subscription>,
    next_event_id: i64,
}

/// Subscriptions a new app has: every type's creation, deletion, restore and merge, each
/// changing property, association changes (none for products) and contact privacy deletion.
/// Types with legacy subscription types get those; the others (engagements, quotes, the
/// custom object) get generic ones naming their type id.
fn default_subscriptions() -> Vec<Subscription> {
    let mut kinds = Vec::new();
    for object in SIMULATED {
        let (name, type_id) = match object.legacy_name() {
            Some(name) => (name, None),
            None => ("object", Some(object.type_id().into_owned())),
        };
        let mut add = |action: &str, property: Option<&str>| {
            kinds.push((
                format!("{name}.{action}"),
                property.map(str::to_owned),
                type_id.clone(),
            ));
        };
        for action in ["creation", "deletion", "restore", "merge"] {
            add(action, None);
        }
        if object != ObjectType::PRODUCTS {
            add("associationChange", None);
        }
        for property in object.changing_properties() {
            add("propertyChange", Some(property));
        }
    }
    kinds.push(("contact.privacyDeletion".to_owned(), None, None));
    kinds
        .into_iter()
        .enumerate()
        .map(
            |(i, (event_type, property_name, object_type_id))| Subscription {
                id: 1_000 + i as i64,
                event_type,
                property_name,
                object_type_id,
                active: true,
            },
        )
        .collect()
}

impl World {
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            portals: HashMap::new(),
            records: HashMap::new(),
            created: HashMap::new(),
            associations: BTreeMap::new(),
            subscriptions: default_subscriptions(),
            next_event_id: 1,
        }
    }

    pub fn portal(&self, portal_id: i64) -> Option<Portal> {
        let offset = portal_id - self.shape.first_portal;
        if !(0..i64::from(self.shape.portals)).contains(&offset) {
            return None;
        }
        Some(self.portals.get(&portal_id).copied().unwrap_or(Portal {
            portal_id,
            installed: true,
            limits: self.shape.limits,
        }))
    }

    pub fn portal_ids(&self) -> impl Iterator<Item = i64> + '_ {
        (0..i64::from(self.shape.portals)).map(|i| self.shape.first_portal + i)
    }

    pub fn update_portal(
        &mut self,
        portal_id: i64,
        change: impl FnOnce(&mut Portal),
    ) -> Result<Portal, ChangeError> {
        let mut portal = self.portal(portal_id).ok_or(ChangeError::NoPortal)?;
        change(&mut portal);
        self.portals.insert(portal_id, portal);
        Ok(portal)
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    pub fn set_subscriptions(&mut self, subscriptions: Vec<Subscription>) {
        self.subscriptions = subscriptions;
    }

    fn index_of(&self, object: ObjectType, id: i64) -> i64 {
        id - object.id_base()
    }

    /// A record as it is now, archived ones included; `None` if it never existed or is erased.
    pub fn record(&self, portal: i64, object: ObjectType, id: i64) -> Option<Record> {
        self.portal(portal)?;
        if let Some(changed) = self.records.get(&(portal, object, id)) {
            return changed.clone();
        }
        let index = self.index_of(object, id);
        (1..=i64::from(self.shape.records_per_type))
            .contains(&index)
            .then(|| generate(self.shape.seed, portal, object, index))
    }

    /// Up to `limit` records with ids above `after`, in id order; archived ones only if
    /// `archived`, else only live ones.
    pub fn list(
        &self,
        portal: i64,
        object: ObjectType,
        after: i64,
        limit: usize,
        archived: bool,
    ) -> Vec<Record> {
        let generated_last = object.id_base() + i64::from(self.shape.records_per_type);
        let created_last =
            generated_last + self.created.get(&(portal, object)).copied().unwrap_or(0);
        let mut out = Vec::with_capacity(limit.min(1_024));
        let mut id = after.max(object.id_base()) + 1;
        if archived {
            let mut archived: Vec<Record> = self
                .records
                .iter()
                .filter(|((p, o, i), _)| *p == portal && *o == object && *i > after)
                .filter_map(|(_, r)| r.clone().filter(|r| r.archived_at.is_some()))
                .collect();
            archived.sort_by_key(|r| r.id);
            archived.truncate(limit);
            return archived;
        }
        while out.len() < limit && id <= created_last {
            if let Some(record) = self
                .record(portal, object, id)
                .filter(|r| r.archived_at.is_none())
            {
                out.push(record);
            }
            id += 1;
        }
        out
    }

    fn event(
        &mut self,
        portal: i64,
        object: ObjectType,
        action: &str,
        property: Option<&str>,
        at: i64,
        object_id: i64,
    ) -> Option<WebhookEvent> {
        let subscription = self
            .subscriptions
            .iter()
            .find(|s| s.wants(object, action, property))?;
        let event = WebhookEvent {
            event_id: self.next_event_id,
            subscription_id: subscription.id,
            portal_id: portal,
            app_id: self.shape.app_id,
            occurred_at: at,
            subscription_type: subscription.event_type.clone(),
            object_type_id: subscription.object_type_id.clone(),
            attempt_number: 0,
            object_id,
            property_name: None,
            property_value: None,
            change_source: "CRM_UI",
            change_flag: None,
            primary_object_id: None,
            merged_object_ids: Vec::new(),
            new_object_id: None,
            number_of_properties_moved: None,
            from_object_id: None,
            to_object_id: None,
            association_type: None,
            association_removed: None,
            is_primary_association: None,
            from_object_type_id: None,
            to_object_type_id: None,
        };
        self.next_event_id += 1;
        Some(event)
    }

    fn live(&self, portal: i64, object: ObjectType, id: i64) -> Result<Record, ChangeError> {
        self.portal(portal).ok_or(ChangeError::NoPortal)?;
        self.record(portal, object, id)
            .filter(|r| r.archived_at.is_none())
            .ok_or(ChangeError::NoRecord)
    }

    fn store(&mut self, portal: i64, object: ObjectType, mut record: Record, now: i64) -> Record {
        record.updated_at = now.max(record.updated_at);
        stamp(&mut record, object);
        self.records
            .insert((portal, object, record.id), Some(record.clone()));
        record
    }

    /// Creates a record with `properties`; the creation event follows.
    pub fn create(
        &mut self,
        portal: i64,
        object: ObjectType,
        properties: BTreeMap<String, String>,
        now: i64,
    ) -> Result<(Record, Vec<WebhookEvent>), ChangeError> {
        self.portal(portal).ok_or(ChangeError::NoPortal)?;
        let created = self.created.entry((portal, object)).or_default();
        *created += 1;
        let id = object.id_base() + i64::from(self.shape.records_per_type) + *created;
        let record = self.store(
            portal,
            object,
            Record {
                id,
                properties,
                created_at: now,
                updated_at: now,
                archived_at: None,
            },
            now,
        );
        let mut events: Vec<_> = self
            .event(portal, object, "creation", None, now, id)
            .into_iter()
            .collect();
        events
            .iter_mut()
            .for_each(|e| e.change_flag = Some("CREATED"));
        Ok((record, events))
    }

    /// Sets properties; one property-change event per subscribed property whose value changed.
    pub fn update(
        &mut self,
        portal: i64,
        object: ObjectType,
        id: i64,
        properties: BTreeMap<String, String>,
        now: i64,
    ) -> Result<(Record, Vec<WebhookEvent>), ChangeError> {
        let mut record = self.live(portal, object, id)?;
        let mut events = Vec::new();
        for (name, value) in properties {
            if record.properties.get(&name) == Some(&value) {
                continue;
            }
            if let Some(mut event) =
                self.event(portal, object, "propertyChange", Some(&name), now, id)
            {
                event.property_name = Some(name.clone());
                event.property_value = Some(value.clone());
                events.push(event);
            }
            record.properties.insert(name, value);
        }
        Ok((self.store(portal, object, record, now), events))
    }

    /// Moves a record to the recycle bin.
    pub fn archive(
        &mut self,
        portal: i64,
        object: ObjectType,
        id: i64,
        now: i64,
    ) -> Result<Vec<WebhookEvent>, ChangeError> {
        let mut record = self.live(portal, object, id)?;
        record.archived_at = Some(now);
        self.store(portal, object, record, now);
        Ok(self
            .event(portal, object, "deletion", None, now, id)
            .into_iter()
            .collect())
    }

    /// Brings a record back from the recycle bin.
    pub fn restore(
        &mut self,
        portal: i64,
        object: ObjectType,
        id: i64,
        now: i64,
    ) -> Result<Vec<WebhookEvent>, ChangeError> {
        self.portal(portal).ok_or(ChangeError::NoPortal)?;
        let mut record = self
            .record(portal, object, id)
            .ok_or(ChangeError::NoRecord)?;
        if record.archived_at.take().is_none() {
            return Err(ChangeError::NotArchived);
        }
        self.store(portal, object, record, now);
        Ok(self
            .event(portal, object, "restore", None, now, id)
            .into_iter()
            .collect())
    }

    /// Merges `merged` into `primary`: the loser's properties fill the winner's gaps and the
    /// loser is gone; one merge event names both (reference §2.3, §4.5).
    pub fn merge(
        &mut self,
        portal: i64,
        object: ObjectType,
        primary: i64,
        merged: i64,
        now: i64,
    ) -> Result<(Record, Vec<WebhookEvent>), ChangeError> {
        let mut winner = self.live(portal, object, primary)?;
        let loser = self.live(portal, object, merged)?;
        let mut moved = 0;
        for (name, value) in loser.properties {
            if let std::collections::btree_map::Entry::Vacant(slot) = winner.properties.entry(name)
            {
                slot.insert(value);
                moved += 1;
            }
        }
        self.records.insert((portal, object, merged), None);
        self.move_associations(portal, object, merged, primary);
        let record = self.store(portal, object, winner, now);
        let mut events: Vec<_> = self
            .event(portal, object, "merge", None, now, primary)
            .into_iter()
            .collect();
        for event in &mut events {
            event.primary_object_id = Some(primary);
            event.merged_object_ids = vec![merged];
            event.new_object_id = Some(primary);
            event.number_of_properties_moved = Some(moved);
        }
        Ok((record, events))
    }

    /// A GDPR deletion of a contact: erased for good; HubSpot sends the privacy deletion and
    /// a normal deletion (reference §2.4).
    pub fn privacy_delete(
        &mut self,
        portal: i64,
        id: i64,
        now: i64,
    ) -> Result<Vec<WebhookEvent>, ChangeError> {
        let object = ObjectType::CONTACTS;
        self.portal(portal).ok_or(ChangeError::NoPortal)?;
        self.record(portal, object, id)
            .ok_or(ChangeError::NoRecord)?;
        self.records.insert((portal, object, id), None);
        self.forget_associations(portal, object, id);
        let privacy = self.event(portal, object, "privacyDeletion", None, now, id);
        let deletion = self.event(portal, object, "deletion", None, now, id);
        Ok(privacy.into_iter().chain(deletion).collect())
    }

    /// The installed portals among `portals` (every portal when empty).
    fn installed_among(&self, portals: &[i64]) -> Vec<i64> {
        let candidates: Vec<i64> = if portals.is_empty() {
            self.portal_ids().collect()
        } else {
            portals.to_vec()
        };
        candidates
            .into_iter()
            .filter(|p| self.portal(*p).is_some_and(|p| p.installed))
            .collect()
    }

    /// `changes` random property changes on random live records of installed portals (all,
    /// or those listed) and object types (all, or those listed), as a stream of activity for
    /// tests, the demo and benchmarks.
    pub fn random_changes(
        &mut self,
        rng: &mut impl Rng,
        changes: u32,
        portals: &[i64],
        objects: &[ObjectType],
        now: i64,
    ) -> Vec<WebhookEvent> {
        let objects = if objects.is_empty() {
            &SIMULATED[..]
        } else {
            objects
        };
        let candidates = self.installed_among(portals);
        let mut events = Vec::new();
        if candidates.is_empty() || self.shape.records_per_type == 0 {
            return events;
        }
        for n in 0..changes {
            let portal = candidates[rng.random_range(0..candidates.len())];
            let object = objects[rng.random_range(0..objects.len())];
            let id =
                object.id_base() + rng.random_range(1..=i64::from(self.shape.records_per_type));
            let properties = object.changing_properties();
            let property = properties[rng.random_range(0..properties.len())];
            let value = format!("{property} {now}-{n}");
            if let Ok((_, new)) = self.update(
                portal,
                object,
                id,
                BTreeMap::from([(property.to_owned(), value)]),
                now,
            ) {
                events.extend(new);
            }
        }
        events
    }
}

mod associations;
#[cfg(test)]
mod tests;

pub use associations::{Associated, AssociationSpec};
