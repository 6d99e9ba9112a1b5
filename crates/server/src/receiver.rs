//! What the webhook endpoint does once a delivery is verified and parsed: turn each event
//! into an inbox row under its identity and make the batch durable through group commit.

use hubspot::webhook::ChangeEvent;
use store::{AppendOutcome, EventKey, NewEvent};

use crate::ingest::{Ingest, IngestError};

/// Makes every event of a delivery durable; `Ok` means the delivery may be acknowledged.
pub async fn accept(
    ingest: &Ingest,
    events: Vec<ChangeEvent>,
) -> Result<AppendOutcome, IngestError> {
    if events.is_empty() {
        return Ok(AppendOutcome::default());
    }
    ingest
        .submit(events.into_iter().map(to_inbox_event).collect())
        .await
}

/// The inbox row of an event. The key holds what stays the same when HubSpot redelivers
/// (reference §2.7); the parts an event type leaves out are 0.
pub fn to_inbox_event(event: ChangeEvent) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: event.portal_id,
            subscription_id: event.subscription_id.unwrap_or(0),
            event_id: event.event_id,
            object_id: event.object_id.unwrap_or(0),
            occurred_at: event.occurred_at.unwrap_or(0),
        },
        subscription_type: event.subscription_type.as_str().to_owned(),
        app_id: event.app_id,
        attempt_number: event.attempt_number.unwrap_or(0),
        payload: Box::<str>::from(event.raw).into_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspot::signature::{sign_v3, ClientSecret, SignatureHeaders, Unverified};

    /// The events of a body, through the real verifier and parser.
    fn parsed(body: &str) -> Vec<ChangeEvent> {
        let (key, uri, ts) = (ClientSecret::new("k"), "https://h/w", "0");
        let signature = sign_v3(&key, "POST", uri, body.as_bytes(), ts);
        let headers = SignatureHeaders {
            v3: Some(&signature),
            timestamp: Some(ts),
            ..Default::default()
        };
        let verified = Unverified::new("POST", uri, headers, body.as_bytes())
            .verify(&key, Default::default(), 0)
            .expect("verifies");
        hubspot::webhook::parse_batch(&verified).expect("parses")
    }

    #[test]
    fn a_redelivery_has_the_same_key_and_keeps_its_own_payload() {
        let event = |attempt: u8| {
            let body = format!(
                r#"[{{"eventId":9,"portalId":1,"subscriptionId":3,"objectId":77,"occurredAt":5,"subscriptionType":"deal.creation","attemptNumber":{attempt}}}]"#
            );
            to_inbox_event(parsed(&body).remove(0))
        };
        let (first, retry) = (event(0), event(2));
        assert_eq!(first.key, retry.key);
        assert_eq!(retry.attempt_number, 2);
        assert!(retry.payload.contains(r#""attemptNumber":2"#));
    }

    #[test]
    fn absent_key_parts_are_zero() {
        let row = to_inbox_event(
            parsed(r#"[{"eventId":1,"portalId":2,"subscriptionType":"event.completed"}]"#)
                .remove(0),
        );
        assert_eq!((row.key.portal_id, row.key.event_id), (2, 1));
        assert_eq!(
            (
                row.key.subscription_id,
                row.key.object_id,
                row.key.occurred_at
            ),
            (0, 0, 0)
        );
        assert_eq!(row.subscription_type, "event.completed");
    }
}
