//! App-webhook deliveries (reference §2): a JSON array of up to 100 change events.
//!
//! Parsing is lenient where HubSpot is loose: only `portalId`, `eventId` and
//! `subscriptionType` (or its older name `eventType`) are required; every documented field
//! is read when present; unknown fields and unknown subscription types are accepted, and
//! each event's raw JSON is kept so a new HubSpot field never breaks ingestion.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::crm::ObjectType;
use crate::signature::Verified;

/// HubSpot retries a notification up to 10 times (reference §2.6): no genuine
/// `attemptNumber` is higher, so a larger one is read as this.
pub const MAX_RETRIES: u32 = 10;

/// One change notification, with every documented field (reference §2.3).
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub portal_id: i64,
    pub event_id: i64,
    pub subscription_type: SubscriptionType,
    pub subscription_id: Option<i64>,
    pub app_id: Option<i64>,
    /// When the change happened, epoch milliseconds.
    pub occurred_at: Option<i64>,
    /// 0 on the first delivery, incremented on each of HubSpot's retries.
    pub attempt_number: Option<i32>,
    pub object_id: Option<i64>,
    pub property_name: Option<String>,
    pub property_value: Option<String>,
    pub change_source: Option<String>,
    pub change_flag: Option<String>,
    pub source_id: Option<String>,
    pub message_id: Option<String>,
    pub message_type: Option<String>,
    pub primary_object_id: Option<i64>,
    pub merged_object_ids: Vec<i64>,
    pub new_object_id: Option<i64>,
    pub number_of_properties_moved: Option<i64>,
    pub from_object_id: Option<i64>,
    pub to_object_id: Option<i64>,
    pub association_type: Option<String>,
    pub association_removed: Option<bool>,
    pub is_primary_association: Option<bool>,
    pub object_type_id: Option<String>,
    pub from_object_type_id: Option<String>,
    pub to_object_type_id: Option<String>,
    /// The event exactly as HubSpot sent it, unknown fields included.
    pub raw: Box<RawValue>,
}

/// The fields as they appear on the wire; unknown ones are ignored here and kept in `raw`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    portal_id: i64,
    event_id: i64,
    #[serde(alias = "eventType")]
    subscription_type: String,
    subscription_id: Option<i64>,
    app_id: Option<i64>,
    occurred_at: Option<i64>,
    attempt_number: Option<i32>,
    object_id: Option<i64>,
    property_name: Option<String>,
    property_value: Option<String>,
    change_source: Option<String>,
    change_flag: Option<String>,
    source_id: Option<String>,
    message_id: Option<String>,
    message_type: Option<String>,
    primary_object_id: Option<i64>,
    #[serde(default)]
    merged_object_ids: Option<Vec<i64>>,
    new_object_id: Option<i64>,
    number_of_properties_moved: Option<i64>,
    from_object_id: Option<i64>,
    to_object_id: Option<i64>,
    association_type: Option<String>,
    association_removed: Option<bool>,
    is_primary_association: Option<bool>,
    object_type_id: Option<String>,
    from_object_type_id: Option<String>,
    to_object_type_id: Option<String>,
}

/// Why a body is not a delivery. Texts name the event and field, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("body is not a JSON array of events: {0}")]
    NotAnArray(#[source] serde_json::Error),
    #[error("event {index} is invalid: {source}")]
    InvalidEvent {
        index: usize,
        #[source]
        source: serde_json::Error,
    },
    /// No HubSpot field holds a NUL character, and a database text column refuses one.
    #[error("event {index} holds a NUL character")]
    NulCharacter { index: usize },
}

/// Parses a verified delivery into its events, in the order HubSpot sent them.
pub fn parse_batch(verified: &Verified<'_>) -> Result<Vec<ChangeEvent>, ParseError> {
    parse_events(verified.body())
}

/// Parses one event as stored (its raw JSON), for workers that read it back.
pub fn parse_event(json: &str) -> Result<ChangeEvent, serde_json::Error> {
    let raw = RawValue::from_string(json.to_owned())?;
    let wire: WireEvent = serde_json::from_str(raw.get())?;
    Ok(ChangeEvent::from_wire(wire, raw))
}

fn parse_events(body: &[u8]) -> Result<Vec<ChangeEvent>, ParseError> {
    let items: Vec<Box<RawValue>> = serde_json::from_slice(body).map_err(ParseError::NotAnArray)?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let wire: WireEvent = serde_json::from_str(raw.get())
                .map_err(|source| ParseError::InvalidEvent { index, source })?;
            // The escape is rare, so the exact check runs only when it appears.
            if raw.get().contains("\\u0000") && holds_nul(raw.get()) {
                return Err(ParseError::NulCharacter { index });
            }
            Ok(ChangeEvent::from_wire(wire, raw))
        })
        .collect()
}

/// Whether any key or string in `json` decodes to a NUL character.
fn holds_nul(json: &str) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(walk),
            serde_json::Value::Object(fields) => fields
                .iter()
                .any(|(key, value)| key.contains('\0') || walk(value)),
            _ => false,
        }
    }
    serde_json::from_str(json).is_ok_and(|value| walk(&value))
}

impl ChangeEvent {
    fn from_wire(w: WireEvent, raw: Box<RawValue>) -> Self {
        Self {
            portal_id: w.portal_id,
            event_id: w.event_id,
            subscription_type: SubscriptionType::new(w.subscription_type),
            subscription_id: w.subscription_id,
            app_id: w.app_id,
            occurred_at: w.occurred_at,
            attempt_number: w.attempt_number,
            object_id: w.object_id,
            property_name: w.property_name,
            property_value: w.property_value,
            change_source: w.change_source,
            change_flag: w.change_flag,
            source_id: w.source_id,
            message_id: w.message_id,
            message_type: w.message_type,
            primary_object_id: w.primary_object_id,
            merged_object_ids: w.merged_object_ids.unwrap_or_default(),
            new_object_id: w.new_object_id,
            number_of_properties_moved: w.number_of_properties_moved,
            from_object_id: w.from_object_id,
            to_object_id: w.to_object_id,
            association_type: w.association_type,
            association_removed: w.association_removed,
            is_primary_association: w.is_primary_association,
            object_type_id: w.object_type_id,
            from_object_type_id: w.from_object_type_id,
            to_object_type_id: w.to_object_type_id,
            raw,
        }
    }
}

/// A subscription type such as `contact.propertyChange`: an object part and an action part.
/// Unknown objects and actions are kept as they came rather than refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionType(String);

/// The object part of a subscription type (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventObject {
    Contact,
    Company,
    Deal,
    Ticket,
    Product,
    LineItem,
    Conversation,
    /// `object.*`: generic webhooks; the type is in the event's `objectTypeId`.
    Generic,
    /// `event.*`, and anything HubSpot adds later.
    Other,
}

/// The action part of a subscription type (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    Creation,
    Deletion,
    PropertyChange,
    AssociationChange,
    Merge,
    Restore,
    PrivacyDeletion,
    NewMessage,
    Other,
}

impl EventObject {
    /// The CRM object type whose records this object's events are about, if any.
    pub fn object_type(self) -> Option<ObjectType> {
        match self {
            Self::Contact => Some(ObjectType::CONTACTS),
            Self::Company => Some(ObjectType::COMPANIES),
            Self::Deal => Some(ObjectType::DEALS),
            Self::Ticket => Some(ObjectType::TICKETS),
            Self::Product => Some(ObjectType::PRODUCTS),
            Self::LineItem => Some(ObjectType::LINE_ITEMS),
            Self::Conversation | Self::Generic | Self::Other => None,
        }
    }
}

impl SubscriptionType {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn object(&self) -> EventObject {
        match self.0.split_once('.').map_or(self.0.as_str(), |(o, _)| o) {
            "contact" => EventObject::Contact,
            "company" => EventObject::Company,
            "deal" => EventObject::Deal,
            "ticket" => EventObject::Ticket,
            "product" => EventObject::Product,
            "line_item" => EventObject::LineItem,
            "conversation" => EventObject::Conversation,
            "object" => EventObject::Generic,
            _ => EventObject::Other,
        }
    }

    pub fn action(&self) -> EventAction {
        match self.0.split_once('.').map(|(_, a)| a) {
            Some("creation") => EventAction::Creation,
            Some("deletion") => EventAction::Deletion,
            Some("propertyChange") => EventAction::PropertyChange,
            Some("associationChange") => EventAction::AssociationChange,
            Some("merge") => EventAction::Merge,
            Some("restore") => EventAction::Restore,
            Some("privacyDeletion") => EventAction::PrivacyDeletion,
            Some("newMessage") => EventAction::NewMessage,
            _ => EventAction::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<ChangeEvent>, ParseError> {
        parse_events(body.as_bytes())
    }

    #[test]
    fn a_stored_event_parses_back_with_its_merge_fields() {
        let event = parse_event(
            r#"{"eventId":1,"portalId":2,"subscriptionType":"contact.merge","objectId":5,"primaryObjectId":5,"mergedObjectIds":[6,7]}"#,
        )
        .expect("parses");
        assert_eq!(
            (event.primary_object_id, event.merged_object_ids),
            (Some(5), vec![6, 7])
        );
        assert_eq!(
            event.subscription_type.object().object_type(),
            Some(ObjectType::CONTACTS)
        );
        assert_eq!(
            SubscriptionType::new("event.completed")
                .object()
                .object_type(),
            None
        );
    }

    #[test]
    fn documented_example_parses_every_field() {
        let events = parse(
            r#"[{"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY",
                "eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,
                "subscriptionType":"contact.propertyChange","attemptNumber":0}]"#,
        )
        .expect("parses");
        let e = &events[0];
        assert_eq!(
            (e.portal_id, e.event_id, e.subscription_id, e.app_id),
            (33, 3816279340, Some(25), Some(1160452))
        );
        assert_eq!(e.occurred_at, Some(1462216307945));
        assert_eq!(e.object_id, Some(1246965));
        assert_eq!(e.property_name.as_deref(), Some("lifecyclestage"));
        assert_eq!(e.property_value.as_deref(), Some("subscriber"));
        assert_eq!(e.change_source.as_deref(), Some("ACADEMY"));
        assert_eq!(e.attempt_number, Some(0));
        assert_eq!(e.subscription_type.object(), EventObject::Contact);
        assert_eq!(e.subscription_type.action(), EventAction::PropertyChange);
    }

    #[test]
    fn merge_association_and_generic_fields_parse() {
        let events = parse(
            r#"[{"eventId":1,"portalId":2,"subscriptionType":"contact.merge","primaryObjectId":10,"mergedObjectIds":[11,12],
                 "newObjectId":13,"numberOfPropertiesMoved":4},
                {"eventId":2,"portalId":2,"subscriptionType":"contact.associationChange","fromObjectId":1,"toObjectId":65059681032,
                 "associationType":"CONTACT_TO_COMPANY","associationRemoved":true,"isPrimaryAssociation":false},
                {"eventId":3,"portalId":2,"subscriptionType":"object.creation","objectTypeId":"0-1","objectId":5,
                 "fromObjectTypeId":"0-1","toObjectTypeId":"0-2","changeFlag":"CREATED","sourceId":"userId:45678"},
                {"eventId":4,"portalId":2,"subscriptionType":"conversation.newMessage","messageId":"m1","messageType":"MESSAGE"}]"#,
        )
        .expect("parses");
        assert_eq!(events[0].merged_object_ids, vec![11, 12]);
        assert_eq!(
            (events[0].primary_object_id, events[0].new_object_id),
            (Some(10), Some(13))
        );
        assert_eq!(events[0].number_of_properties_moved, Some(4));
        assert_eq!(events[1].to_object_id, Some(65059681032));
        assert_eq!(
            events[1].association_type.as_deref(),
            Some("CONTACT_TO_COMPANY")
        );
        assert_eq!(
            (
                events[1].association_removed,
                events[1].is_primary_association
            ),
            (Some(true), Some(false))
        );
        assert_eq!(events[2].subscription_type.object(), EventObject::Generic);
        assert_eq!(events[2].object_type_id.as_deref(), Some("0-1"));
        assert_eq!(events[2].to_object_type_id.as_deref(), Some("0-2"));
        assert_eq!(events[2].source_id.as_deref(), Some("userId:45678"));
        assert_eq!(events[3].message_type.as_deref(), Some("MESSAGE"));
        assert_eq!(
            events[3].subscription_type.action(),
            EventAction::NewMessage
        );
    }

    #[test]
    fn older_event_type_key_is_accepted() {
        let events =
            parse(r#"[{"eventId":1,"portalId":2,"eventType":"deal.deletion"}]"#).expect("parses");
        assert_eq!(events[0].subscription_type.as_str(), "deal.deletion");
    }

    #[test]
    fn unknown_fields_and_types_are_kept_raw() {
        let body = r#"[{"eventId":1,"portalId":2,"subscriptionType":"widget.teleport","brandNew":{"x":[1,2]}}]"#;
        let events = parse(body).expect("parses");
        assert_eq!(events[0].subscription_type.object(), EventObject::Other);
        assert_eq!(events[0].subscription_type.action(), EventAction::Other);
        assert_eq!(
            events[0].raw.get(),
            r#"{"eventId":1,"portalId":2,"subscriptionType":"widget.teleport","brandNew":{"x":[1,2]}}"#
        );
    }

    #[test]
    fn every_documented_subscription_type_is_understood() {
        let objects = [
            (
                "contact",
                EventObject::Contact,
                &[
                    "creation",
                    "deletion",
                    "merge",
                    "associationChange",
                    "restore",
                    "privacyDeletion",
                    "propertyChange",
                ][..],
            ),
            (
                "company",
                EventObject::Company,
                &[
                    "creation",
                    "deletion",
                    "propertyChange",
                    "associationChange",
                    "restore",
                    "merge",
                ],
            ),
            (
                "deal",
                EventObject::Deal,
                &[
                    "creation",
                    "deletion",
                    "associationChange",
                    "restore",
                    "merge",
                    "propertyChange",
                ],
            ),
            (
                "ticket",
                EventObject::Ticket,
                &[
                    "creation",
                    "deletion",
                    "propertyChange",
                    "associationChange",
                    "restore",
                    "merge",
                ],
            ),
            (
                "product",
                EventObject::Product,
                &["creation", "deletion", "restore", "merge", "propertyChange"],
            ),
            (
                "line_item",
                EventObject::LineItem,
                &[
                    "creation",
                    "deletion",
                    "associationChange",
                    "restore",
                    "merge",
                    "propertyChange",
                ],
            ),
            (
                "conversation",
                EventObject::Conversation,
                &[
                    "creation",
                    "deletion",
                    "privacyDeletion",
                    "propertyChange",
                    "newMessage",
                ],
            ),
            (
                "object",
                EventObject::Generic,
                &[
                    "creation",
                    "deletion",
                    "propertyChange",
                    "merge",
                    "restore",
                    "associationChange",
                ],
            ),
        ];
        for (object, kind, actions) in objects {
            for action in actions {
                let t = SubscriptionType::new(format!("{object}.{action}"));
                assert_eq!(t.object(), kind, "{t:?}");
                assert_ne!(t.action(), EventAction::Other, "{t:?}");
            }
        }
        assert_eq!(
            SubscriptionType::new("event.completed").object(),
            EventObject::Other
        );
    }

    #[test]
    fn an_empty_array_is_an_empty_batch() {
        assert!(parse("[]").expect("parses").is_empty());
    }

    #[test]
    fn bodies_that_are_not_arrays_of_events_are_refused() {
        for body in ["", "{}", "null", "[1]", "not json", "[{\"eventId\":1}]"] {
            assert!(parse(body).is_err(), "{body:?}");
        }
        let err = parse(r#"[{"eventId":1,"portalId":2,"subscriptionType":"a.b"},{"eventId":1,"subscriptionType":"a.b"}]"#)
            .unwrap_err();
        assert!(
            matches!(err, ParseError::InvalidEvent { index: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("portalId"), "{err}");
    }

    #[test]
    fn a_nul_character_anywhere_in_an_event_is_refused() {
        let nul = r#"[{"eventId":1,"portalId":2,"subscriptionType":"a.b"},{"eventId":2,"portalId":2,"subscriptionType":"contact.propertyChange","propertyValue":"x\u0000y"}]"#;
        assert!(matches!(
            parse(nul).unwrap_err(),
            ParseError::NulCharacter { index: 1 }
        ));
        let in_a_key = r#"[{"eventId":1,"portalId":2,"subscriptionType":"a.b","k\u0000":1}]"#;
        assert!(parse(in_a_key).is_err());
        let escaped_backslash =
            r#"[{"eventId":1,"portalId":2,"subscriptionType":"a.b","propertyValue":"\\u0000"}]"#;
        assert!(
            parse(escaped_backslash).is_ok(),
            "a backslash and u0000 are no NUL"
        );
    }
}
