//! The CRM object types the simulator serves, and records generated from a seed.
//!
//! Every portal has `records_per_type` records of each type that exist only as a function of
//! (seed, portal, type, index): nothing is stored until a record changes, so 10,000 portals
//! with 1,000 records each cost no memory until they are touched.

use std::collections::BTreeMap;

pub use hubspot::crm::ObjectType;

use self::profiles::profile_of;
pub use self::profiles::{CARS, SIMULATED};

mod profiles;

/// What the simulator adds to HubSpot's object types: how it numbers, shows and changes
/// the records it generates.
pub trait Simulated {
    /// The type's place in [`SIMULATED`].
    fn rank(self) -> usize;
    /// The name HubSpot uses for the type in "Could not get some CONTACT objects".
    fn upper_name(self) -> &'static str;
    /// Record ids of generated records are `id_base + index` (index from 1), so ids differ
    /// between types and exceed 2^31 like real ones can.
    fn id_base(self) -> i64;
    /// Properties returned when a request names none.
    fn default_properties(self) -> &'static [&'static str];
    /// Properties that change in simulated activity and can be subscribed to.
    fn changing_properties(self) -> &'static [&'static str];
    /// How many more properties the type has than its default and changing ones: real
    /// portals define a few hundred on contacts, fewer elsewhere.
    fn more_properties(self) -> usize;
    /// Whether the type has a property of this name (a record may leave it empty).
    fn defines(self, property: &str) -> bool;
    /// Every property the type has, by name: what the properties API lists.
    fn property_names(self) -> Vec<String>;
    /// The number of one of [`Simulated::more_properties`], from its name.
    fn more_property(self, property: &str) -> Option<usize>;
}

fn more_name(object: ObjectType, n: usize) -> String {
    format!("{}_detail_{n:03}", object.upper_name().to_lowercase())
}

/// A record's value of `property`: what it holds, or else, for one of the type's
/// [`Simulated::more_properties`], a value that follows from the record's id (a third are
/// empty). `None` when empty.
pub fn value_of(record: &Record, object: ObjectType, property: &str) -> Option<String> {
    if let Some(value) = record.properties.get(property) {
        return Some(value.clone());
    }
    let n = object.more_property(property)?;
    let h = mix(record.id as u64 ^ mix(n as u64));
    (!h.is_multiple_of(3)).then(|| format!("{property} value {}", h % 10_000))
}

impl Simulated for ObjectType {
    fn rank(self) -> usize {
        SIMULATED
            .iter()
            .position(|t| *t == self)
            .expect("a simulated type")
    }

    fn id_base(self) -> i64 {
        (self.rank() as i64 + 1) * 10_000_000_000
    }

    fn upper_name(self) -> &'static str {
        profile_of(self.rank()).upper
    }

    fn default_properties(self) -> &'static [&'static str] {
        profile_of(self.rank()).defaults
    }

    fn more_properties(self) -> usize {
        profile_of(self.rank()).more
    }

    fn defines(self, property: &str) -> bool {
        self.default_properties().contains(&property)
            || self.changing_properties().contains(&property)
            || self.more_property(property).is_some()
    }

    fn property_names(self) -> Vec<String> {
        let mut names: Vec<String> = self
            .default_properties()
            .iter()
            .chain(self.changing_properties())
            .map(|p| (*p).to_owned())
            .chain((1..=self.more_properties()).map(|n| more_name(self, n)))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn more_property(self, property: &str) -> Option<usize> {
        let n: usize = property
            .strip_prefix(&*self.upper_name().to_lowercase())?
            .strip_prefix("_detail_")?
            .parse()
            .ok()?;
        ((1..=self.more_properties()).contains(&n) && more_name(self, n) == property).then_some(n)
    }

    fn changing_properties(self) -> &'static [&'static str] {
        profile_of(self.rank()).changing
    }
}

/// One CRM record as the simulator holds it. Property values are strings, as in HubSpot.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: i64,
    pub properties: BTreeMap<String, String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Set while the record is in the recycle bin.
    pub archived_at: Option<i64>,
}

/// A deterministic 64-bit mix (splitmix64), so generated data depends only on its inputs.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick<'a>(words: &[&'a str], h: u64) -> &'a str {
    words[(h % words.len() as u64) as usize]
}

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Zoë", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances",
    "Édouard", "Hedy",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Müller", "Torvalds", "Hamilton", "Thompson", "Liskov",
    "Ritchie", "Allen", "Lamarr",
];
const COMPANY: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vehement",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
];
const INDUSTRY: &[&str] = &[
    "COMPUTER_SOFTWARE",
    "RETAIL",
    "HOSPITALITY",
    "BANKING",
    "MARKETING_AND_ADVERTISING",
];
const CITY: &[&str] = &[
    "Boston", "Dublin", "Berlin", "Tokyo", "Sydney", "Paris", "Bogotá",
];
const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
];
const DEAL_STAGE: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];
const QUOTE_STATUS: &[&str] = &["DRAFT", "APPROVAL_NOT_NEEDED", "PENDING_APPROVAL"];
const TASK_STATUS: &[&str] = &["NOT_STARTED", "IN_PROGRESS", "COMPLETED"];
const OUTCOME: &[&str] = &["SCHEDULED", "COMPLETED", "NO_SHOW"];
const MAKE: &[&str] = &["Volvo", "Škoda", "Citroën", "Toyota", "Ford"];
const TICKET_STAGE: &[&str] = &["1", "2", "3", "4"];
const PRIORITY: &[&str] = &["LOW", "MEDIUM", "HIGH"];

/// 2024-01-01T00:00:00Z: generated records are created within 500 days after it.
const EPOCH_2024_MS: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 86_400_000;

/// The record `index` (from 1) of `object` in `portal`, as generated from `seed`.
pub fn generate(seed: u64, portal: i64, object: ObjectType, index: i64) -> Record {
    let h = |salt: u64| {
        mix(seed
            ^ mix(portal as u64 ^ mix((object.rank() as u64) << 40 ^ index as u64 ^ salt << 56)))
    };
    let id = object.id_base() + index;
    let created_at = EPOCH_2024_MS + (h(1) % (500 * DAY_MS as u64)) as i64;
    let updated_at = created_at + (h(2) % (30 * DAY_MS as u64)) as i64;
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        p.insert(k.to_owned(), v);
    };
    match object {
        ObjectType::CONTACTS => {
            let (first, last) = (pick(FIRST, h(3)), pick(LAST, h(4)));
            set("firstname", first.to_owned());
            set("lastname", last.to_owned());
            set(
                "email",
                format!("{}.{}.{index}@example.com", ascii(first), ascii(last)),
            );
            set("lifecyclestage", pick(LIFECYCLE, h(5)).to_owned());
            // A quarter of contacts leave their phone empty, as real ones do.
            if h(7) % 4 != 0 {
                set("phone", format!("+1 617 555 {:04}", h(6) % 10_000));
            }
        }
        ObjectType::COMPANIES => {
            let name = pick(COMPANY, h(3));
            set("name", format!("{name} {index}"));
            set(
                "domain",
                format!("{}{index}.example.com", name.to_lowercase()),
            );
            set("industry", pick(INDUSTRY, h(4)).to_owned());
            set("city", pick(CITY, h(5)).to_owned());
        }
        ObjectType::DEALS => {
            set(
                "dealname",
                format!("{} renewal {index}", pick(COMPANY, h(3))),
            );
            set("amount", format!("{}.{:02}", h(4) % 100_000, h(5) % 100));
            set("dealstage", pick(DEAL_STAGE, h(6)).to_owned());
            set("pipeline", "default".to_owned());
            set("closedate", iso(updated_at + 30 * DAY_MS));
        }
        ObjectType::TICKETS => {
            set(
                "subject",
                format!("Ticket {index}: {} cannot log in", pick(FIRST, h(3))),
            );
            set("content", "Steps to reproduce are attached.".to_owned());
            set("hs_pipeline", "0".to_owned());
            set("hs_pipeline_stage", pick(TICKET_STAGE, h(4)).to_owned());
            set("hs_ticket_priority", pick(PRIORITY, h(5)).to_owned());
        }
        ObjectType::PRODUCTS => {
            set("name", format!("Product {index}"));
            set("price", format!("{}.00", 10 + h(3) % 990));
            set("description", format!("{} edition", pick(CITY, h(4))));
        }
        ObjectType::LINE_ITEMS => {
            let (quantity, price) = (1 + h(3) % 20, 10 + h(4) % 990);
            set("name", format!("Line item {index}"));
            set("quantity", quantity.to_string());
            set("price", format!("{price}.00"));
            set("amount", format!("{}.00", quantity * price));
        }
        ObjectType::QUOTES => {
            set(
                "hs_title",
                format!("Quote {index} for {}", pick(COMPANY, h(3))),
            );
            set("hs_status", pick(QUOTE_STATUS, h(4)).to_owned());
            set("hs_expiration_date", iso(updated_at + 30 * DAY_MS));
        }
        CARS => {
            set("make", pick(MAKE, h(3)).to_owned());
            set("model", format!("Model {}", 1 + h(4) % 9));
            set("year", (2000 + h(5) % 26).to_string());
        }
        engagement => {
            set("hs_timestamp", iso(created_at));
            for (property, value) in engagement_properties(engagement, &h) {
                set(property, value);
            }
        }
    }
    let mut record = Record {
        id,
        properties: p,
        created_at,
        updated_at,
        archived_at: None,
    };
    stamp(&mut record, object);
    record
}

/// What an engagement of type `object` holds besides its time, from the record's hash.
fn engagement_properties(
    object: ObjectType,
    h: &impl Fn(u64) -> u64,
) -> Vec<(&'static str, String)> {
    match object {
        ObjectType::TASKS => vec![
            ("hs_task_status", pick(TASK_STATUS, h(4)).to_owned()),
            (
                "hs_task_subject",
                format!("Follow up with {}", pick(FIRST, h(3))),
            ),
        ],
        ObjectType::MEETINGS => vec![
            ("hs_meeting_outcome", pick(OUTCOME, h(4)).to_owned()),
            (
                "hs_meeting_title",
                format!("Demo for {}", pick(COMPANY, h(3))),
            ),
        ],
        ObjectType::CALLS => vec![
            ("hs_call_status", "COMPLETED".to_owned()),
            ("hs_call_title", format!("Call with {}", pick(FIRST, h(3)))),
        ],
        ObjectType::EMAILS => vec![
            ("hs_email_status", "SENT".to_owned()),
            (
                "hs_email_subject",
                format!("Your {} order", pick(CITY, h(3))),
            ),
        ],
        ObjectType::COMMUNICATIONS => vec![
            ("hs_communication_channel_type", "SMS".to_owned()),
            (
                "hs_communication_body",
                format!("See you in {}", pick(CITY, h(3))),
            ),
        ],
        ObjectType::POSTAL_MAIL => vec![(
            "hs_postal_mail_body",
            format!("Contract sent to {}", pick(COMPANY, h(3))),
        )],
        _ => vec![(
            "hs_note_body",
            format!("{} asked for a quote", pick(FIRST, h(3))),
        )],
    }
}

/// Sets the bookkeeping properties HubSpot maintains itself.
pub fn stamp(record: &mut Record, object: ObjectType) {
    record
        .properties
        .insert("hs_object_id".into(), record.id.to_string());
    record
        .properties
        .insert("createdate".into(), iso(record.created_at));
    record.properties.insert(
        object.last_modified_property().into(),
        iso(record.updated_at),
    );
}

fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ë' => 'e',
            'ü' => 'u',
            'É' => 'E',
            'á' => 'a',
            other => other,
        })
        .collect::<String>()
        .to_lowercase()
}

/// ISO 8601 with milliseconds and `Z`, as HubSpot writes dates.
pub fn iso(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_differs_by_input() {
        let a = generate(7, 101, ObjectType::CONTACTS, 5);
        assert_eq!(a, generate(7, 101, ObjectType::CONTACTS, 5));
        assert_ne!(
            a.properties,
            generate(8, 101, ObjectType::CONTACTS, 5).properties
        );
        assert_ne!(a.id, generate(7, 101, ObjectType::COMPANIES, 5).id);
        assert_eq!(a.properties["hs_object_id"], a.id.to_string());
        assert!(a.updated_at >= a.created_at);
    }

    #[test]
    fn every_type_has_its_default_and_changing_properties() {
        for object in SIMULATED {
            let records: Vec<Record> = (1..=20).map(|i| generate(1, 2, object, i)).collect();
            for property in object.default_properties() {
                assert!(
                    records.iter().all(|r| r.properties.contains_key(*property)),
                    "{object:?} lacks {property}"
                );
            }
            for property in object.changing_properties() {
                assert!(object.defines(property));
                assert!(
                    records.iter().any(|r| r.properties.contains_key(*property)),
                    "{object:?} never has {property}"
                );
            }
            assert_eq!(ObjectType::from_path(&object.path_name()), Some(object));
            assert_eq!(ObjectType::from_path(&object.type_id()), Some(object));
            if let Some(name) = object.legacy_name() {
                assert_eq!(ObjectType::from_legacy_name(name), Some(object));
            }
        }
        assert_eq!(ObjectType::from_path("contact"), None);
        let phones = (1..=40)
            .filter(|i| {
                generate(1, 2, ObjectType::CONTACTS, *i)
                    .properties
                    .contains_key("phone")
            })
            .count();
        assert!(
            (1..40).contains(&phones),
            "some contacts leave their phone empty"
        );
        assert!(!ObjectType::CONTACTS.defines("nosuchproperty"));
    }

    #[test]
    fn contacts_have_a_few_hundred_properties_and_records_fill_most() {
        let names = ObjectType::CONTACTS.property_names();
        assert!(names.len() >= 300, "{}", names.len());
        assert!(names.iter().all(|n| ObjectType::CONTACTS.defines(n)));
        assert!(!ObjectType::CONTACTS.defines("contact_detail_1"));
        assert!(!ObjectType::CONTACTS.defines("deal_detail_001"));
        let record = generate(1, 2, ObjectType::CONTACTS, 3);
        let filled = names
            .iter()
            .filter(|n| value_of(&record, ObjectType::CONTACTS, n).is_some())
            .count();
        assert!(filled > names.len() / 2 && filled < names.len(), "{filled}");
        assert_eq!(
            value_of(&record, ObjectType::CONTACTS, "email").as_ref(),
            record.properties.get("email")
        );
    }

    #[test]
    fn dates_are_iso_8601_with_milliseconds() {
        assert_eq!(iso(1_735_689_599_000), "2024-12-31T23:59:59.000Z");
    }
}
