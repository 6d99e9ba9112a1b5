//! Which properties a batch read asks for. By default every property the portal defines
//! for the type (HubSpot's few defaults otherwise), read from the properties API and held
//! per portal, install and type: a list is fetched again on a schedule, and at once when a
//! `propertyChange` names a property the held list lacks (the portal created one).
//! `SPOKE_HYDRATOR_PROPERTIES` narrows a type to a fixed list instead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hubspot::crm::ObjectType;
use hubspot::webhook::parse_event;
use moka::sync::Cache;
use serde::Serialize;
use store::{Claimed, PortalId};
use utoipa::ToSchema;

/// The properties read for each type: a fixed list, or (absent) every property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertySelection(BTreeMap<ObjectType, Arc<[String]>>);

impl PropertySelection {
    /// `contacts=email,firstname;deals=*`: types by path name or type id, each with its
    /// property names or `*` (every property, as for a type not named).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut named = BTreeMap::new();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (object, list) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not TYPE=PROPERTIES"))?;
            let object = ObjectType::from_path(object.trim()).ok_or_else(|| {
                format!("`{}` is not an object type such as contacts", object.trim())
            })?;
            if list.trim() == "*" {
                named.remove(&object);
                continue;
            }
            let names: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = names.iter().find(|n| !is_property_name(n)) {
                return Err(format!("`{bad}` is not a property name"));
            }
            if names.is_empty() {
                return Err(format!("no properties named for {}", object.plural()));
            }
            named.insert(object, names.into());
        }
        Ok(Self(named))
    }

    /// The fixed list for `object`; `None`: every property the portal defines.
    pub fn named(&self, object: ObjectType) -> Option<Arc<[String]>> {
        self.0.get(&object).cloned()
    }
}

/// The properties read for one of a portal's types, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackedProperties {
    /// HubSpot's path name: `contacts`, …
    pub object_type: String,
    /// Every property the portal defines, rather than a configured list.
    pub every: bool,
    /// The configured list, or the portal's list as this process last read it (`null`
    /// before it has).
    pub properties: Option<Vec<String>>,
}

/// HubSpot's internal property names: lowercase letters, digits and underscores.
fn is_property_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whose list: a portal's type, under one install (a new install may grant, and a
/// portal may have created, other properties).
pub(super) type ListKey = (PortalId, i64, ObjectType);

/// The property lists of the portals this process reads for.
#[derive(Debug)]
pub(super) struct PropertyCatalog {
    lists: Cache<ListKey, Arc<[String]>>,
}

impl PropertyCatalog {
    /// Property names held at most, over every list (a few hundred bytes a thousand).
    const MAX_NAMES: u64 = 5_000_000;

    /// Lists are fetched again `refresh` after they were fetched.
    pub(super) fn new(refresh: Duration) -> Self {
        Self {
            lists: Cache::builder()
                .max_capacity(Self::MAX_NAMES)
                .weigher(|_, list: &Arc<[String]>| u32::try_from(list.len()).unwrap_or(u32::MAX))
                .time_to_live(refresh)
                .build(),
        }
    }

    /// The held list, unless it is due or lacks a property one of `events` changed.
    pub(super) fn current<'a>(
        &self,
        key: ListKey,
        events: impl IntoIterator<Item = &'a Claimed>,
    ) -> Option<Arc<[String]>> {
        let list = self.lists.get(&key)?;
        let unknown = changed_properties(events)
            .iter()
            .any(|name| !list.contains(name));
        (!unknown).then_some(list)
    }

    /// The held list, due or not.
    pub(super) fn held(&self, key: ListKey) -> Option<Arc<[String]>> {
        self.lists.get(&key)
    }

    pub(super) fn learn(&self, key: ListKey, names: Vec<String>) -> Arc<[String]> {
        let list: Arc<[String]> = names.into();
        self.lists.insert(key, list.clone());
        list
    }
}

/// The properties `propertyChange` events name.
fn changed_properties<'a>(events: impl IntoIterator<Item = &'a Claimed>) -> Vec<String> {
    events
        .into_iter()
        .filter(|e| e.subscription_type.ends_with(".propertyChange"))
        .filter_map(|e| parse_event(&e.payload).ok()?.property_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use store::{EventKey, ObjectId};

    use super::*;

    #[test]
    fn a_selection_names_lists_per_type_and_star_means_every_property() {
        let selection =
            PropertySelection::parse("contacts=email, firstname ;0-3=*;tickets=subject").unwrap();
        let named = |o| selection.named(o).map(|l| l.to_vec());
        assert_eq!(
            named(ObjectType::Contacts),
            Some(vec!["email".into(), "firstname".into()])
        );
        assert_eq!(named(ObjectType::Tickets), Some(vec!["subject".into()]));
        assert_eq!(named(ObjectType::Deals), None);
        assert_eq!(named(ObjectType::Companies), None);
        assert_eq!(
            PropertySelection::parse("").unwrap(),
            PropertySelection::default()
        );
        for bad in [
            "contacts",
            "contact=email",
            "contacts=",
            "contacts=Email",
            "deals=a;b",
        ] {
            assert!(PropertySelection::parse(bad).is_err(), "{bad}");
        }
    }

    fn change(property: &str) -> Claimed {
        Claimed {
            id: 1,
            key: EventKey {
                portal_id: PortalId(1),
                subscription_id: 1,
                event_id: 1,
                object_id: ObjectId(5),
                occurred_at: 0,
            },
            subscription_type: "contact.propertyChange".into(),
            payload: format!(
                r#"{{"eventId":1,"portalId":1,"subscriptionType":"contact.propertyChange","propertyName":"{property}"}}"#
            ),
            attempts: 0,
            trace_context: None,
        }
    }

    #[test]
    fn a_list_is_held_until_a_change_names_a_property_it_lacks() {
        let catalog = PropertyCatalog::new(Duration::from_secs(3_600));
        let key = (PortalId(1), 7, ObjectType::Contacts);
        assert_eq!(catalog.current(key, []), None, "nothing held yet");
        catalog.learn(key, vec!["email".into(), "firstname".into()]);
        let known = change("email");
        assert_eq!(catalog.current(key, [&known]).map(|l| l.len()), Some(2));
        let created = change("favourite_colour");
        assert_eq!(
            catalog.current(key, [&known, &created]),
            None,
            "fetch it again"
        );
        let other_install = (PortalId(1), 8, ObjectType::Contacts);
        assert_eq!(catalog.current(other_install, []), None);
    }

    #[test]
    fn a_list_is_due_after_its_refresh_interval() {
        let catalog = PropertyCatalog::new(Duration::from_millis(50));
        let key = (PortalId(1), 7, ObjectType::Deals);
        catalog.learn(key, vec!["dealname".into()]);
        assert!(catalog.current(key, []).is_some());
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(catalog.current(key, []), None);
    }
}
