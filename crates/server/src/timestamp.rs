//! Instants as operators read them, formatted one way for machines and one way for people:
//! JSON (and the command line's output) carries RFC 3339 in UTC to the millisecond
//! (`2026-12-05T16:20:00.123Z`, which sorts as it reads); pages show the UTC minute
//! (`2026-12-05 16:20 UTC`). Inside, an instant is epoch milliseconds.

use chrono::{DateTime, SecondsFormat};
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// An instant, epoch milliseconds; serialized as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `2026-12-05T16:20:00.123Z`; the milliseconds themselves if out of chrono's range.
    pub fn rfc3339(self) -> String {
        DateTime::from_timestamp_millis(self.0).map_or_else(
            || self.0.to_string(),
            |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }

    /// `2026-12-05 16:20 UTC`, for pages.
    pub fn page(self) -> String {
        DateTime::from_timestamp_millis(self.0).map_or_else(
            || "—".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    }
}

impl ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_gets_rfc3339_to_the_millisecond_and_pages_the_minute() {
        let at = Timestamp(1_900_000_000_123);
        assert_eq!(at.rfc3339(), "2030-03-17T17:46:40.123Z");
        assert_eq!(
            serde_json::to_value(at).unwrap(),
            serde_json::json!("2030-03-17T17:46:40.123Z")
        );
        assert_eq!(at.page(), "2030-03-17 17:46 UTC");
    }
}
