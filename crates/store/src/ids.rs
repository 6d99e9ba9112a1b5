//! HubSpot's identifiers, typed, so that a portal's id is never passed where a record's is
//! expected. Both are HubSpot's 64-bit integers; the store keeps them as such.

use std::fmt;
use std::str::FromStr;

/// A HubSpot account (HubSpot's `portalId`, the `hub_id` of a token). The default, 0, is
/// no portal: what a webhook body that named none is counted under.
#[derive(
    Default,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct PortalId(pub i64);

/// A CRM record, within its portal and object type (HubSpot's `objectId`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ObjectId(pub i64);

impl fmt::Display for PortalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PortalId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

impl FromStr for ObjectId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::{ObjectId, PortalId};

    #[test]
    fn ids_read_and_print_as_hubspot_writes_them() {
        assert_eq!("62515".parse::<PortalId>(), Ok(PortalId(62_515)));
        assert!("sixty".parse::<ObjectId>().is_err());
        assert_eq!(PortalId(62_515).to_string(), "62515");
        assert_eq!(serde_json::to_string(&ObjectId(7)).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<PortalId>("62515").unwrap(),
            PortalId(62_515)
        );
    }
}
