//! HubSpot's CRM object types as data (reference §4.1, §2.4): each standard type's type id,
//! path name, legacy subscription name and read scopes in one
//! table, and custom objects (`2-…`), which a portal defines for itself and spoke learns
//! of through the schemas API.

use std::borrow::Cow;
use std::fmt;

/// What spoke knows of a standard object type.
#[derive(Debug)]
struct Standard {
    type_id: &'static str,
    /// The plural path name: `contacts`, `line_items`.
    path_name: &'static str,
    /// The object part of its legacy subscription types (`contact.creation`), for the
    /// types HubSpot has them for.
    legacy_name: Option<&'static str>,
    /// Any one of these lets an app read the type; the first is the one to ask for.
    read_scopes: &'static [&'static str],
}

/// Engagements are readable with the contacts scope (HubSpot's guides for calls, emails,
/// meetings, notes, tasks, communications and postal mail); HubSpot's CRM spec also lists
/// a scope of each type's own, which is asked for first where it exists.
const STANDARD: [Standard; 14] = [
    standard(
        "0-1",
        "contacts",
        Some("contact"),
        &["crm.objects.contacts.read"],
    ),
    standard(
        "0-2",
        "companies",
        Some("company"),
        &["crm.objects.companies.read"],
    ),
    standard("0-3", "deals", Some("deal"), &["crm.objects.deals.read"]),
    standard("0-5", "tickets", Some("ticket"), &["tickets"]),
    standard(
        "0-7",
        "products",
        Some("product"),
        &["e-commerce", "crm.objects.products.read"],
    ),
    standard(
        "0-8",
        "line_items",
        Some("line_item"),
        &["e-commerce", "crm.objects.line_items.read"],
    ),
    standard("0-14", "quotes", None, &["crm.objects.quotes.read"]),
    standard(
        "0-27",
        "tasks",
        None,
        &["crm.objects.tasks.read", CONTACTS_READ],
    ),
    standard(
        "0-46",
        "notes",
        None,
        &["crm.objects.notes.read", CONTACTS_READ],
    ),
    standard(
        "0-47",
        "meetings",
        None,
        &["crm.objects.meetings.read", CONTACTS_READ],
    ),
    standard(
        "0-48",
        "calls",
        None,
        &["crm.objects.calls.read", CONTACTS_READ],
    ),
    standard(
        "0-49",
        "emails",
        None,
        &["crm.objects.emails.read", CONTACTS_READ],
    ),
    standard("0-18", "communications", None, &[CONTACTS_READ]),
    standard("0-116", "postal_mail", None, &[CONTACTS_READ]),
];

const CONTACTS_READ: &str = "crm.objects.contacts.read";

/// The scope that lets an app read custom objects (reference §4.1, HubSpot's CRM spec).
pub const CUSTOM_READ_SCOPE: &str = "crm.objects.custom.read";

const fn standard(
    type_id: &'static str,
    path_name: &'static str,
    legacy_name: Option<&'static str>,
    read_scopes: &'static [&'static str],
) -> Standard {
    Standard {
        type_id,
        path_name,
        legacy_name,
        read_scopes,
    }
}

/// A CRM object type: one of HubSpot's standard types, or a portal's custom object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectType(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// An index into [`STANDARD`].
    Standard(u8),
    /// The number in a custom object's type id `2-NNN`.
    Custom(u64),
}

impl ObjectType {
    pub const CONTACTS: Self = Self(Kind::Standard(0));
    pub const COMPANIES: Self = Self(Kind::Standard(1));
    pub const DEALS: Self = Self(Kind::Standard(2));
    pub const TICKETS: Self = Self(Kind::Standard(3));
    pub const PRODUCTS: Self = Self(Kind::Standard(4));
    pub const LINE_ITEMS: Self = Self(Kind::Standard(5));
    pub const QUOTES: Self = Self(Kind::Standard(6));
    pub const TASKS: Self = Self(Kind::Standard(7));
    pub const NOTES: Self = Self(Kind::Standard(8));
    pub const MEETINGS: Self = Self(Kind::Standard(9));
    pub const CALLS: Self = Self(Kind::Standard(10));
    pub const EMAILS: Self = Self(Kind::Standard(11));
    pub const COMMUNICATIONS: Self = Self(Kind::Standard(12));
    pub const POSTAL_MAIL: Self = Self(Kind::Standard(13));

    /// Every standard type spoke knows, in the table's order.
    pub const STANDARD: [Self; 14] = [
        Self::CONTACTS,
        Self::COMPANIES,
        Self::DEALS,
        Self::TICKETS,
        Self::PRODUCTS,
        Self::LINE_ITEMS,
        Self::QUOTES,
        Self::TASKS,
        Self::NOTES,
        Self::MEETINGS,
        Self::CALLS,
        Self::EMAILS,
        Self::COMMUNICATIONS,
        Self::POSTAL_MAIL,
    ];

    /// The custom object whose type id is `2-{number}`.
    pub const fn custom(number: u64) -> Self {
        Self(Kind::Custom(number))
    }

    fn standard(self) -> Option<&'static Standard> {
        match self.0 {
            Kind::Standard(index) => Some(&STANDARD[usize::from(index)]),
            Kind::Custom(_) => None,
        }
    }

    pub fn is_custom(self) -> bool {
        matches!(self.0, Kind::Custom(_))
    }

    /// A type as a path names it: a standard type's path name or type id (`contacts`,
    /// `0-1`), or a custom object's type id (`2-123`).
    pub fn from_path(segment: &str) -> Option<Self> {
        if let Some(number) = segment.strip_prefix("2-") {
            return number
                .parse()
                .ok()
                .filter(|n: &u64| n.to_string() == number)
                .map(Self::custom);
        }
        Self::STANDARD.into_iter().find(|t| {
            t.standard()
                .is_some_and(|s| s.path_name == segment || s.type_id == segment)
        })
    }

    /// The type whose legacy subscription types start with `name` (`contact`).
    pub fn from_legacy_name(name: &str) -> Option<Self> {
        Self::STANDARD
            .into_iter()
            .find(|t| t.legacy_name() == Some(name))
    }

    /// The name paths and the mirror use: a standard type's path name, a custom object's
    /// type id (its name is the portal's own; the id is what HubSpot's paths take).
    pub fn path_name(self) -> Cow<'static, str> {
        match self.standard() {
            Some(s) => Cow::Borrowed(s.path_name),
            None => self.type_id(),
        }
    }

    pub fn type_id(self) -> Cow<'static, str> {
        match self.0 {
            Kind::Standard(_) => Cow::Borrowed(self.standard().expect("standard").type_id),
            Kind::Custom(number) => Cow::Owned(format!("2-{number}")),
        }
    }

    /// The object part of the type's legacy subscription types (`contact`), for the types
    /// HubSpot has them for; the others have only generic ones (`object.*`).
    pub fn legacy_name(self) -> Option<&'static str> {
        self.standard().and_then(|s| s.legacy_name)
    }

    /// The property holding the last-modified time (reference §4.2).
    pub fn last_modified_property(self) -> &'static str {
        if self == Self::CONTACTS {
            "lastmodifieddate"
        } else {
            "hs_lastmodifieddate"
        }
    }

    /// The scopes any one of which lets an app read this type.
    pub fn read_scopes(self) -> &'static [&'static str] {
        self.standard()
            .map_or(&[CUSTOM_READ_SCOPE], |s| s.read_scopes)
    }

    /// The scope to ask for to read this type.
    pub fn read_scope(self) -> &'static str {
        self.read_scopes()[0]
    }

    /// Whether `scopes` let an app read this type.
    pub fn readable_with<S: AsRef<str>>(self, scopes: &[S]) -> bool {
        scopes
            .iter()
            .any(|granted| self.read_scopes().contains(&granted.as_ref()))
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_types_round_trip_through_their_names() {
        for object in ObjectType::STANDARD {
            assert_eq!(ObjectType::from_path(&object.path_name()), Some(object));
            assert_eq!(ObjectType::from_path(&object.type_id()), Some(object));
            if let Some(name) = object.legacy_name() {
                assert_eq!(ObjectType::from_legacy_name(name), Some(object));
            }
        }
        let cars = ObjectType::custom(7_001);
        assert_eq!(ObjectType::from_path("2-7001"), Some(cars));
        assert_eq!(
            (cars.path_name(), cars.type_id()),
            ("2-7001".into(), "2-7001".into())
        );
        assert_eq!(ObjectType::from_path("2-07001"), None);
        assert_eq!(ObjectType::from_path("2-"), None);
        assert_eq!(ObjectType::from_path("0-9999"), None);
        assert_eq!(ObjectType::from_legacy_name("contacts"), None);
        assert_eq!(ObjectType::from_legacy_name("call"), None);
        assert_eq!(ObjectType::LINE_ITEMS.legacy_name(), Some("line_item"));
        assert_eq!(ObjectType::CALLS.legacy_name(), None);
    }

    #[test]
    fn a_type_is_readable_with_any_of_its_scopes() {
        assert!(ObjectType::LINE_ITEMS.readable_with(&["e-commerce"]));
        assert!(ObjectType::LINE_ITEMS.readable_with(&["crm.objects.line_items.read"]));
        assert!(ObjectType::CALLS.readable_with(&["crm.objects.contacts.read"]));
        assert!(!ObjectType::QUOTES.readable_with(&["crm.objects.contacts.read"]));
        assert_eq!(ObjectType::CALLS.read_scope(), "crm.objects.calls.read");
        assert_eq!(ObjectType::custom(5).read_scope(), CUSTOM_READ_SCOPE);
        assert!(!ObjectType::custom(5).readable_with(&["crm.objects.contacts.read"]));
    }

    #[test]
    fn type_ids_and_path_names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in &STANDARD {
            assert!(seen.insert(s.type_id) && seen.insert(s.path_name), "{s:?}");
        }
    }
}
