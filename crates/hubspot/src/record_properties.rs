//! A record's properties as HubSpot sent them, so that the mirror stores them without
//! parsing each record into a map and writing it out again.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A record's `properties` object (values are strings, or `null`) exactly as HubSpot sent
/// it. The mirror stores it as it came: with every property of a portal read, parsing each
/// record into a map and writing it out again was most of the hydrator's own work.
#[derive(Debug, Clone)]
pub struct Properties(Box<RawValue>);

impl Properties {
    /// The object's JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl Default for Properties {
    fn default() -> Self {
        Self(RawValue::from_string("{}".into()).expect("an empty object is JSON"))
    }
}

impl PartialEq for Properties {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

/// An absent or `null` `properties` is an empty object; anything but an object is refused.
impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<Box<RawValue>>::deserialize(deserializer)? {
            None => Ok(Self::default()),
            Some(raw) if raw.get().starts_with('{') => {
                // Raw text is not checked for lone surrogates (`"\ud800"`), which
                // PostgreSQL's `json` refuses: one such record would fail its whole
                // settlement. HubSpot sends text as UTF-8, so only escaped text is parsed.
                if raw.get().contains("\\u") {
                    serde_json::from_str::<Map<String, Value>>(raw.get())
                        .map_err(serde::de::Error::custom)?;
                }
                Ok(Self(raw))
            }
            Some(_) => Err(serde::de::Error::custom("`properties` is not an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wire {
        #[serde(default)]
        properties: Properties,
    }

    #[test]
    fn properties_are_kept_as_sent_and_must_be_an_object() {
        let properties = |body: &str| {
            serde_json::from_str::<Wire>(body).map(|wire| wire.properties.as_json().to_owned())
        };
        let sent = r#"{"properties":{"b":"2","a":null}}"#;
        assert_eq!(properties(sent).unwrap(), r#"{"b":"2","a":null}"#);
        assert_eq!(properties("{}").unwrap(), "{}");
        assert_eq!(properties(r#"{"properties":null}"#).unwrap(), "{}");
        assert!(properties(r#"{"properties":["a"]}"#).is_err());
        let escaped = r#"{"properties":{"a":"\u00e9\ud83d\ude00"}}"#;
        assert!(properties(escaped).is_ok());
        let lone = r#"{"properties":{"a":"\ud800"}}"#;
        assert!(properties(lone).is_err(), "a lone surrogate is refused");
    }
}
