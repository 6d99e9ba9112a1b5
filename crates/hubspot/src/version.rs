//! HubSpot's CRM API versions and the one place CRM paths are built for them (reference §9).
//!
//! HubSpot stops supporting `/crm/v4` (associations) on 2027-03-30 and `/crm/v3` in
//! September 2027, and dates its newer releases (`/crm/objects/2026-03/…`); a dated version
//! is unsupported 18 months after its release.
//! Every CRM path spoke calls comes from [`ApiVersion`], so moving to a newer version is one
//! setting, and an operator can be warned before the configured one goes out of support.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

/// A CRM API version spoke can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiVersion {
    /// `/crm/v3/…` with `/crm/v4/associations/…`: unsupported from 2027-03-30 (v4), and
    /// September 2027 (v3).
    V3,
    /// `/crm/objects/2026-03/…`: the same schemas as v3.
    V2026_03,
    /// `/crm/objects/2026-09/…`: batch reads answer `200` with `errors[]` instead of `207`,
    /// and property values may be `null`.
    V2026_09,
}

impl ApiVersion {
    pub const ALL: [Self; 3] = [Self::V3, Self::V2026_03, Self::V2026_09];

    /// The version as HubSpot writes it in paths and as the setting takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3 => "v3",
            Self::V2026_03 => "2026-03",
            Self::V2026_09 => "2026-09",
        }
    }

    /// The first day HubSpot no longer supports every API this version calls. v3 calls
    /// the v4 associations API, unsupported from 2027-03-30; otherwise HubSpot names the
    /// month (v3: "September 2027"; a dated version: 18 months after its release), not the
    /// day, so the month's first day is taken: a warning then comes early, never late.
    pub fn unsupported_from(self) -> NaiveDate {
        let (year, month, day) = match self {
            Self::V3 => (2027, 3, 30),
            Self::V2026_03 => (2027, 9, 1),
            Self::V2026_09 => (2028, 3, 1),
        };
        NaiveDate::from_ymd_opt(year, month, day).expect("a calendar date")
    }

    /// Whether `today` falls within `months` of the end of support, or after it.
    pub fn support_ends_within(self, today: NaiveDate, months: u32) -> bool {
        today
            .checked_add_months(chrono::Months::new(months))
            .is_none_or(|horizon| horizon >= self.unsupported_from())
    }

    /// The newest version spoke can call.
    pub fn newest() -> Self {
        Self::ALL[Self::ALL.len() - 1]
    }

    /// The path of an object type's records, for its path name or type id: `/crm/v3/objects/
    /// contacts` or `/crm/objects/2026-03/contacts`. Reads, batch reads and lists hang below.
    pub fn objects_path(self, object: &str) -> String {
        match self {
            Self::V3 => format!("/crm/v3/objects/{object}"),
            dated => format!("/crm/objects/{dated}/{object}"),
        }
    }

    /// The path of an object type's property definitions: `/crm/v3/properties/contacts` or
    /// `/crm/properties/2026-03/contacts`.
    pub fn properties_path(self, object: &str) -> String {
        match self {
            Self::V3 => format!("/crm/v3/properties/{object}"),
            dated => format!("/crm/properties/{dated}/{object}"),
        }
    }

    /// The path of the associations from one type to another, below which batch reads
    /// hang: `/crm/associations/2026-03/contacts/companies`; with v3, HubSpot's current
    /// undated associations API, `/crm/v4/associations/contacts/companies`.
    pub fn associations_path(self, from: &str, to: &str) -> String {
        match self {
            Self::V3 => format!("/crm/v4/associations/{from}/{to}"),
            dated => format!("/crm/associations/{dated}/{from}/{to}"),
        }
    }

    /// The path of a portal's custom object schemas: `/crm/v3/schemas`, or
    /// `/crm-object-schemas/2026-03/schemas` (HubSpot's spec names it so).
    pub fn schemas_path(self) -> String {
        match self {
            Self::V3 => "/crm/v3/schemas".to_owned(),
            dated => format!("/crm-object-schemas/{dated}/schemas"),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version spoke cannot call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a CRM API version spoke calls: 2026-03, 2026-09 or v3")]
pub struct UnknownVersion(pub String);

impl FromStr for ApiVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_through_their_names() {
        for version in ApiVersion::ALL {
            assert_eq!(version.as_str().parse(), Ok(version));
        }
        assert!("v4".parse::<ApiVersion>().is_err());
        assert!("2026-3".parse::<ApiVersion>().is_err());
        assert_eq!(ApiVersion::newest(), ApiVersion::V2026_09);
    }

    #[test]
    fn each_version_builds_its_own_paths() {
        assert_eq!(
            ApiVersion::V3.objects_path("line_items"),
            "/crm/v3/objects/line_items"
        );
        assert_eq!(
            ApiVersion::V2026_03.objects_path("contacts"),
            "/crm/objects/2026-03/contacts"
        );
        assert_eq!(
            ApiVersion::V2026_09.objects_path("deals"),
            "/crm/objects/2026-09/deals"
        );
        assert_eq!(
            ApiVersion::V3.properties_path("contacts"),
            "/crm/v3/properties/contacts"
        );
        assert_eq!(
            ApiVersion::V2026_03.properties_path("tickets"),
            "/crm/properties/2026-03/tickets"
        );
        assert_eq!(ApiVersion::V3.schemas_path(), "/crm/v3/schemas");
        assert_eq!(
            ApiVersion::V3.associations_path("contacts", "0-2"),
            "/crm/v4/associations/contacts/0-2"
        );
        assert_eq!(
            ApiVersion::V2026_03.associations_path("deals", "contacts"),
            "/crm/associations/2026-03/deals/contacts"
        );
        assert_eq!(
            ApiVersion::V2026_09.schemas_path(),
            "/crm-object-schemas/2026-09/schemas"
        );
    }

    #[test]
    fn the_end_of_support_is_near_six_months_before_it() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let v = ApiVersion::V2026_03;
        assert_eq!(v.unsupported_from(), day(2027, 9, 1));
        assert!(!v.support_ends_within(day(2027, 2, 28), 6));
        assert!(v.support_ends_within(day(2027, 3, 1), 6));
        assert!(v.support_ends_within(day(2030, 1, 1), 6), "and after it");
        assert!(!ApiVersion::V2026_09.support_ends_within(day(2027, 3, 1), 6));
    }
}
