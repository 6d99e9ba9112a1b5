//! Which properties a batch read asks for. By default every property the portal defines
//! for the type (HubSpot's few defaults otherwise), read from the properties API and held
//! per portal, install and type: a list is fetched again on a schedule, and at once when a
//! `propertyChange` names a property the held list lacks (the portal created one).
//! `SPOKE_HYDRATOR_PROPERTIES` narrows a type to a fixed list instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A portal's list of a type's properties as last read, with the properties changes
/// named that it lacked then (a sensitive or archived one the API leaves out): they do not
/// make it read again before its time.
#[derive(Debug)]
struct PropertyList {
    names: Arc<[String]>,
    absent: BTreeSet<String>,
    read_at: Instant,
}

/// What the catalog holds of a list.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Listed {
    /// Held, and good to use.
    Current(Arc<[String]>),
    /// To be read again: never read, due, or lacking a property a change named. The list
    /// held, if any, serves when reading it again fails.
    Due(Option<Arc<[String]>>),
}

/// The property lists of the portals this process reads for.
#[derive(Debug)]
pub(super) struct PropertyCatalog {
    lists: Cache<ListKey, Arc<PropertyList>>,
    refresh: Duration,
}

impl PropertyCatalog {
    /// Property names held at most, over every list: about 50 MB of names.
    const MAX_NAMES: u64 = 1_000_000;

    /// Lists are read again `refresh` after they were read.
    pub(super) fn new(refresh: Duration) -> Self {
        Self {
            lists: Cache::builder()
                .max_capacity(Self::MAX_NAMES)
                .weigher(|_, list: &Arc<PropertyList>| {
                    u32::try_from(list.names.len() + list.absent.len()).unwrap_or(u32::MAX)
                })
                .build(),
            refresh,
        }
    }

    /// The held list, and whether it serves `events` as it is.
    pub(super) fn lookup<'a>(
        &self,
        key: ListKey,
        events: impl IntoIterator<Item = &'a Claimed>,
    ) -> Listed {
        let Some(list) = self.lists.get(&key) else {
            return Listed::Due(None);
        };
        let lacking = changed_properties(events)
            .iter()
            .any(|name| !list.names.contains(name) && !list.absent.contains(name));
        if lacking || list.read_at.elapsed() >= self.refresh {
            Listed::Due(Some(list.names.clone()))
        } else {
            Listed::Current(list.names.clone())
        }
    }

    /// The held list, due or not.
    pub(super) fn held(&self, key: ListKey) -> Option<Arc<[String]>> {
        self.lists.get(&key).map(|list| list.names.clone())
    }

    /// Holds `names`, just read for `events`.
    pub(super) fn learn<'a>(
        &self,
        key: ListKey,
        names: Vec<String>,
        events: impl IntoIterator<Item = &'a Claimed>,
    ) -> Arc<[String]> {
        let names: Arc<[String]> = names.into();
        let absent = changed_properties(events)
            .into_iter()
            .filter(|name| !names.contains(name))
            .collect();
        let list = PropertyList {
            names: names.clone(),
            absent,
            read_at: Instant::now(),
        };
        self.lists.insert(key, Arc::new(list));
        names
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
    use super::super::plan::tests::event;

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
        event(
            "contact.propertyChange",
            &format!(
                r#"{{"eventId":1,"portalId":1,"subscriptionType":"contact.propertyChange","propertyName":"{property}"}}"#
            ),
        )
    }

    #[test]
    fn a_list_is_held_until_a_change_names_a_property_it_lacks() {
        let catalog = PropertyCatalog::new(Duration::from_secs(3_600));
        let key = (PortalId(1), 7, ObjectType::Contacts);
        assert_eq!(
            catalog.lookup(key, []),
            Listed::Due(None),
            "nothing held yet"
        );
        let list = catalog.learn(key, vec!["email".into(), "firstname".into()], []);
        let known = change("email");
        assert_eq!(catalog.lookup(key, [&known]), Listed::Current(list.clone()));
        let created = change("favourite_colour");
        assert_eq!(
            catalog.lookup(key, [&known, &created]),
            Listed::Due(Some(list)),
            "read it again, the held one in hand"
        );
        let other_install = (PortalId(1), 8, ObjectType::Contacts);
        assert_eq!(catalog.lookup(other_install, []), Listed::Due(None));
    }

    /// A property the API does not list (sensitive, archived) is not looked for again
    /// until the list is due: one extra call, not one a round.
    #[test]
    fn a_property_missing_from_a_fresh_list_does_not_make_it_read_again() {
        let catalog = PropertyCatalog::new(Duration::from_secs(3_600));
        let key = (PortalId(1), 7, ObjectType::Contacts);
        let hidden = change("hs_sensitive_note");
        let list = catalog.learn(key, vec!["email".into()], [&hidden]);
        assert_eq!(catalog.lookup(key, [&hidden]), Listed::Current(list));
    }

    #[test]
    fn a_list_is_due_after_its_refresh_interval() {
        let catalog = PropertyCatalog::new(Duration::from_millis(50));
        let key = (PortalId(1), 7, ObjectType::Deals);
        let list = catalog.learn(key, vec!["dealname".into()], []);
        assert_eq!(catalog.lookup(key, []), Listed::Current(list.clone()));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(catalog.lookup(key, []), Listed::Due(Some(list)));
        assert!(catalog.held(key).is_some(), "kept to fall back on");
    }
}
