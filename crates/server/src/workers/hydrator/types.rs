//! Which object types the hydrator reads: standard types by path name or type id, and
//! custom objects, every one (`custom`) or by type id. Custom objects are each portal's
//! own, so "every custom object" is what a scope can grant and a setting can name.

use hubspot::crm::{ObjectType, CUSTOM_READ_SCOPE};
use store::PortalId;

use super::catalog::Catalog;

/// The custom object types (type ids) each portal defines, under one install.
pub(super) type CustomTypeCatalog = Catalog<(PortalId, i64)>;

/// A set of object types: those listed, and every custom object if `every_custom`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSelection {
    listed: Vec<ObjectType>,
    every_custom: bool,
}

impl TypeSelection {
    /// The word that names every custom object.
    pub const CUSTOM: &'static str = "custom";

    /// Every type `scopes` let an app read.
    pub fn readable_with(scopes: &[String]) -> Self {
        Self {
            listed: ObjectType::STANDARD
                .into_iter()
                .filter(|o| o.readable_with(scopes))
                .collect(),
            every_custom: scopes.iter().any(|s| s == CUSTOM_READ_SCOPE),
        }
    }

    /// Names separated by spaces: path names or type ids (`contacts 0-3 2-123`), or
    /// `custom` for every custom object.
    pub fn parse(names: &str) -> Result<Self, String> {
        let mut selection = Self::default();
        for name in names.split_whitespace() {
            if name == Self::CUSTOM {
                selection.every_custom = true;
                continue;
            }
            let object = ObjectType::from_path(name).ok_or_else(|| {
                format!("`{name}` is not an object type such as contacts, 0-3, 2-123 or custom")
            })?;
            if !selection.listed.contains(&object) {
                selection.listed.push(object);
            }
        }
        Ok(selection)
    }

    pub fn includes(&self, object: ObjectType) -> bool {
        self.listed.contains(&object) || (object.is_custom() && self.every_custom)
    }

    /// The types named one by one.
    pub fn listed(&self) -> &[ObjectType] {
        &self.listed
    }

    /// Whether every custom object is in the set.
    pub fn every_custom(&self) -> bool {
        self.every_custom
    }

    /// The types of this set that are not in `other`.
    pub fn without(&self, other: &Self) -> Self {
        Self {
            listed: self
                .listed
                .iter()
                .copied()
                .filter(|o| !other.includes(*o))
                .collect(),
            every_custom: self.every_custom && !other.every_custom,
        }
    }

    /// The first type of the set `scopes` do not let an app read, as the setting names it.
    pub fn unreadable_with(&self, scopes: &[String]) -> Option<(String, &'static str)> {
        if self.every_custom && !scopes.iter().any(|s| s == CUSTOM_READ_SCOPE) {
            return Some((Self::CUSTOM.into(), CUSTOM_READ_SCOPE));
        }
        self.listed
            .iter()
            .find(|o| !o.readable_with(scopes))
            .map(|o| (o.path_name().into_owned(), o.read_scope()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &str) -> Vec<String> {
        list.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn scopes_select_every_type_they_let_an_app_read() {
        let selection = TypeSelection::readable_with(&scopes("oauth crm.objects.contacts.read"));
        assert!(selection.includes(ObjectType::CONTACTS));
        assert!(
            selection.includes(ObjectType::CALLS),
            "engagements read with contacts"
        );
        assert!(!selection.includes(ObjectType::DEALS));
        assert!(!selection.includes(ObjectType::custom(9)));
        let custom = TypeSelection::readable_with(&scopes("crm.objects.custom.read"));
        assert!(custom.includes(ObjectType::custom(9)) && custom.every_custom());
        assert_eq!(custom.listed(), []);
    }

    #[test]
    fn names_select_types_and_custom_means_every_custom_object() {
        let selection = TypeSelection::parse("contacts 0-3 2-17 contacts").unwrap();
        assert_eq!(
            selection.listed(),
            [
                ObjectType::CONTACTS,
                ObjectType::DEALS,
                ObjectType::custom(17)
            ]
        );
        assert!(!selection.includes(ObjectType::custom(18)));
        let every = TypeSelection::parse("custom").unwrap();
        assert!(every.includes(ObjectType::custom(18)));
        assert!(TypeSelection::parse("contact")
            .unwrap_err()
            .contains("`contact`"));
    }

    #[test]
    fn a_set_without_another_and_the_scopes_it_lacks() {
        let all = TypeSelection::parse("contacts tickets custom").unwrap();
        let required = TypeSelection::parse("contacts").unwrap();
        let optional = all.without(&required);
        assert_eq!(optional.listed(), [ObjectType::TICKETS]);
        assert!(optional.every_custom());
        assert_eq!(
            all.unreadable_with(&scopes("crm.objects.contacts.read tickets")),
            Some(("custom".into(), CUSTOM_READ_SCOPE))
        );
        assert_eq!(
            required.unreadable_with(&scopes("tickets")),
            Some(("contacts".into(), "crm.objects.contacts.read"))
        );
        assert_eq!(
            all.unreadable_with(&scopes(
                "crm.objects.contacts.read tickets crm.objects.custom.read"
            )),
            None
        );
    }
}
