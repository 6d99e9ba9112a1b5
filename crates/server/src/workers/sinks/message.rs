//! What a sink receives for one change: a JSON body in the Standard Webhooks payload shape
//! (`type`, `timestamp`, `data`) and an id that names the change, so a redelivery (after a
//! crash, a retry or a replay) carries the same id and receivers drop it: JetStream by its
//! `Nats-Msg-Id`, HTTP receivers by `webhook-id`.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, value::RawValue};
use store::{Delivery, PortalId, ASSOCIATED, DISSOCIATED};

/// One change, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `msg_<portal>_<type>_<object>_<version>_<state>`, and for an association change
    /// `_<toObjectType>_<toObjectId>`: the same for the same change.
    pub id: String,
    pub portal_id: PortalId,
    /// HubSpot's path name of the record's type (`contacts`).
    pub object_type: String,
    pub body: Vec<u8>,
    /// The delivery's span as a W3C `traceparent`, sent along so the receiver's spans join
    /// the trace (when traces are on).
    pub traceparent: Option<String>,
}

/// The message type for a delivery's state: `record.updated` carries the full record after
/// a creation, change or restore; `association.added` (also when its kinds changed) and
/// `association.removed` carry one association of the record; the others carry nothing.
fn event_type(record_state: &str) -> String {
    match record_state {
        "live" => "record.updated".to_owned(),
        ASSOCIATED => "association.added".to_owned(),
        DISSOCIATED => "association.removed".to_owned(),
        other => format!("record.{other}"),
    }
}

/// The other side of an association change, which its message id names too: several
/// associations of a record change in one read, at one version.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtherSide {
    to_object_type: String,
    to_object_id: i64,
}

impl Message {
    /// The message for a queued change; an error only if the stored properties are not
    /// JSON (or, for an association, not one), which a dispatcher dead-letters rather than
    /// send something else.
    pub fn of(delivery: &Delivery) -> Result<Self, serde_json::Error> {
        let mut id = format!(
            "msg_{}_{}_{}_{}_{}",
            delivery.portal_id,
            delivery.object_type,
            delivery.object_id,
            delivery.version,
            delivery.record_state
        );
        let content = RawValue::from_string(delivery.properties.clone())?;
        let association = [ASSOCIATED, DISSOCIATED].contains(&delivery.record_state.as_str());
        if association {
            let other: OtherSide = serde_json::from_str(content.get())?;
            id = format!("{id}_{}_{}", other.to_object_type, other.to_object_id);
        }
        let timestamp = DateTime::from_timestamp_millis(delivery.version)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut data = json!({
            "portalId": delivery.portal_id,
            "objectType": delivery.object_type,
            "objectId": delivery.object_id,
            "state": delivery.record_state,
            "updatedAt": delivery.version,
        });
        data[if association {
            "association"
        } else {
            "properties"
        }] = json!(content);
        let body = json!({
            "type": event_type(&delivery.record_state),
            "timestamp": timestamp,
            "data": data,
        });
        Ok(Self {
            id,
            portal_id: delivery.portal_id,
            object_type: delivery.object_type.clone(),
            body: serde_json::to_vec(&body)?,
            traceparent: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use store::ObjectId;

    use super::*;

    fn delivery(state: &str, properties: &str) -> Delivery {
        Delivery {
            id: 7,
            portal_id: PortalId(101),
            object_type: "contacts".into(),
            object_id: ObjectId(42),
            record_state: state.into(),
            properties: properties.into(),
            version: 1_764_000_000_123,
            attempts: 2,
            trace_context: None,
        }
    }

    #[test]
    fn a_live_record_is_an_update_carrying_its_properties() {
        let message = Message::of(&delivery("live", r#"{"email":"ada@example.com"}"#)).unwrap();
        assert_eq!(message.id, "msg_101_contacts_42_1764000000123_live");
        let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "record.updated",
                "timestamp": "2025-11-24T16:00:00.123Z",
                "data": {
                    "portalId": 101,
                    "objectType": "contacts",
                    "objectId": 42,
                    "state": "live",
                    "updatedAt": 1_764_000_000_123_i64,
                    "properties": {"email": "ada@example.com"},
                },
            })
        );
    }

    #[test]
    fn the_id_names_the_change_not_the_attempt() {
        let first = Message::of(&delivery("deleted", "{}")).unwrap();
        let mut again = delivery("deleted", "{}");
        again.id = 99;
        again.attempts = 0;
        assert_eq!(Message::of(&again).unwrap(), first);
        assert_ne!(Message::of(&delivery("merged", "{}")).unwrap().id, first.id);
        assert!(Message::of(&delivery("live", "not json")).is_err());
        let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(body["type"], "record.deleted");
    }

    #[test]
    fn an_association_change_names_both_sides() {
        let association = r#"{"toObjectType":"companies","toObjectId":7,"types":[{"category":"HUBSPOT_DEFINED","typeId":279}]}"#;
        let added = Message::of(&delivery("associated", association)).unwrap();
        assert_eq!(
            added.id,
            "msg_101_contacts_42_1764000000123_associated_companies_7"
        );
        let body: serde_json::Value = serde_json::from_slice(&added.body).unwrap();
        assert_eq!(body["type"], "association.added");
        assert_eq!(body["data"]["association"]["toObjectId"], 7);
        assert_eq!(body["data"].get("properties"), None);
        let removed = Message::of(&delivery("dissociated", association)).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&removed.body).unwrap();
        assert_eq!(body["type"], "association.removed");
        assert!(Message::of(&delivery("associated", "{}")).is_err());
    }
}
