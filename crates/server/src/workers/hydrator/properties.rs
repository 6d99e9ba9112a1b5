//! Which properties a batch read asks for. By default every property the portal defines
//! for the type (HubSpot's few defaults otherwise), read from the properties API and held
//! per portal, install and type: a list is fetched again on a schedule, and at once when a
//! `propertyChange` names a property the held list lacks (the portal created one).
//! `SPOKE_HYDRATOR_PROPERTIES` narrows a type to a fixed list instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use hubspot::crm::ObjectType;
use hubspot::webhook::parse_event;
use serde::Serialize;
use store::{Claimed, PortalId};
use utoipa::ToSchema;

use super::catalog::Catalog;

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
                return Err(format!("no properties named for {}", object.path_name()));
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

/// Whose property list: a portal's type, under one install (a new install may grant, and
/// a portal may have created, other properties).
pub(super) type ListKey = (PortalId, i64, ObjectType);

/// The property lists of the portals this process reads for.
pub(super) type PropertyCatalog = Catalog<ListKey>;

/// The properties `propertyChange` events name: a property list lacking one is due.
pub(super) fn changed_properties<'a>(events: impl IntoIterator<Item = &'a Claimed>) -> Vec<String> {
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
            named(ObjectType::CONTACTS),
            Some(vec!["email".into(), "firstname".into()])
        );
        assert_eq!(named(ObjectType::TICKETS), Some(vec!["subject".into()]));
        assert_eq!(named(ObjectType::DEALS), None);
        assert_eq!(named(ObjectType::COMPANIES), None);
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

    #[test]
    fn property_changes_name_the_properties_a_list_must_have() {
        let change = event(
            "contact.propertyChange",
            r#"{"eventId":1,"portalId":1,"subscriptionType":"contact.propertyChange","propertyName":"favourite_colour"}"#,
        );
        let creation = event("contact.creation", r#"{"eventId":2,"portalId":1}"#);
        assert_eq!(
            changed_properties([&change, &creation]),
            ["favourite_colour"]
        );
    }
}
