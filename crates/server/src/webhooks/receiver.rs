//! What the webhook endpoint does with a delivery: verify its signature against the URL
//! HubSpot called and this instant, parse the batch, turn each event into an inbox row under
//! its identity, and make the batch durable through group commit. `Ok` means the delivery
//! may be acknowledged.

use hubspot::signature::{Policy, SignatureError, SignatureHeaders, Unverified};
use hubspot::time::Clock;
use hubspot::webhook::{parse_batch, ChangeEvent, ParseError};
use hubspot::ClientSecret;
use store::{AppendOutcome, EventKey, NewEvent, ObjectId, PortalId};

use super::group_commit::{Ingest, IngestError};
use super::metrics::WebhookMetrics;
use crate::config::{PublicUrl, WebhookConfig};
use crate::monitor::tally::PortalEvents;

/// Why a delivery was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("signature refused")]
    Signature(#[from] SignatureError),
    #[error("payload refused")]
    Payload(#[from] ParseError),
    #[error("not stored")]
    Ingest(#[from] IngestError),
}

/// What became of a delivery, and what its verified events say about their portals (for
/// the monitor; empty when the delivery was refused before its events could be trusted).
#[derive(Debug)]
pub struct Receipt {
    pub portals: Vec<PortalEvents>,
    pub result: Result<AppendOutcome, ReceiveError>,
}

impl Receipt {
    fn refused(error: impl Into<ReceiveError>) -> Self {
        Self {
            portals: Vec::new(),
            result: Err(error.into()),
        }
    }
}

/// Per portal, its events at a first attempt and at a retry, and their earlier retries.
fn portal_events(events: &[ChangeEvent]) -> Vec<PortalEvents> {
    let mut portals: Vec<PortalEvents> = Vec::new();
    for event in events {
        // The body's word, so bounded by what HubSpot can send before it feeds estimates.
        let attempt = u64::try_from(event.attempt_number.unwrap_or(0))
            .unwrap_or(0)
            .min(u64::from(hubspot::webhook::MAX_RETRIES));
        let portal_id = PortalId(event.portal_id);
        let index = match portals.iter().position(|p| p.portal_id == portal_id) {
            Some(index) => index,
            None => {
                portals.push(PortalEvents {
                    portal_id,
                    ..PortalEvents::default()
                });
                portals.len() - 1
            }
        };
        let portal = &mut portals[index];
        if attempt == 0 {
            portal.first += 1;
        } else {
            portal.retried += 1;
            portal.earlier_retries += attempt - 1;
        }
    }
    portals
}

/// Everything a delivery is checked against, and where it goes.
#[derive(Debug)]
pub struct Receiver {
    pub max_body: usize,
    public_url: PublicUrl,
    client_secret: ClientSecret,
    policy: Policy,
    clock: Clock,
    ingest: Ingest,
    pub metrics: WebhookMetrics,
}

impl Receiver {
    pub fn new(
        config: &WebhookConfig,
        public_url: PublicUrl,
        client_secret: ClientSecret,
        clock: Clock,
        ingest: Ingest,
    ) -> Self {
        Self {
            max_body: config.max_body,
            public_url,
            client_secret,
            policy: config.signature_policy,
            clock,
            ingest,
            metrics: WebhookMetrics::default(),
        }
    }

    /// Whether a delivery's signature headers are worth reading its body for (see
    /// [`SignatureHeaders::check_before_body`]).
    pub fn check_headers(&self, headers: SignatureHeaders<'_>) -> Result<(), ReceiveError> {
        Ok(headers.check_before_body(self.policy, self.clock.now_ms())?)
    }

    /// Verifies, parses and stores one delivery. `path_and_query` is the request's, which
    /// with the public URL makes the URI HubSpot signed; `trace` is stored with each event.
    pub async fn receive(
        &self,
        method: &str,
        path_and_query: &str,
        headers: SignatureHeaders<'_>,
        body: &[u8],
        trace: Option<String>,
    ) -> Receipt {
        let signed_uri = self.public_url.join(path_and_query);
        let verified = match Unverified::new(method, &signed_uri, headers, body).verify(
            &self.client_secret,
            self.policy,
            self.clock.now_ms(),
        ) {
            Ok(verified) => verified,
            Err(error) => return Receipt::refused(error),
        };
        let events = match parse_batch(&verified) {
            Ok(events) => events,
            Err(error) => return Receipt::refused(error),
        };
        let portals = portal_events(&events);
        if events.is_empty() {
            return Receipt {
                portals,
                result: Ok(AppendOutcome::default()),
            };
        }
        let rows = events
            .into_iter()
            .map(|event| to_inbox_event(event, trace.clone()))
            .collect();
        Receipt {
            portals,
            result: self.ingest.submit(rows).await.map_err(ReceiveError::from),
        }
    }
}

/// The inbox row of an event. The key holds what stays the same when HubSpot redelivers
/// (reference §2.7); the parts an event type leaves out are 0.
pub fn to_inbox_event(event: ChangeEvent, trace_context: Option<String>) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: PortalId(event.portal_id),
            subscription_id: event.subscription_id.unwrap_or(0),
            event_id: event.event_id,
            object_id: ObjectId(event.object_id.unwrap_or(0)),
            occurred_at: event.occurred_at.unwrap_or(0),
        },
        subscription_type: event.subscription_type.as_str().to_owned(),
        app_id: event.app_id,
        attempt_number: event.attempt_number.unwrap_or(0),
        payload: Box::<str>::from(event.raw).into_string(),
        trace_context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspot::signature::sign_v3;

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
            to_inbox_event(parsed(&body).remove(0), None)
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
            None,
        );
        assert_eq!((row.key.portal_id, row.key.event_id), (PortalId(2), 1));
        assert_eq!(
            (
                row.key.subscription_id,
                row.key.object_id,
                row.key.occurred_at
            ),
            (0, ObjectId(0), 0)
        );
        assert_eq!(row.subscription_type, "event.completed");
    }

    #[test]
    fn an_attempt_number_beyond_hubspots_retries_counts_as_its_last_retry() {
        let body = |attempt: i64| {
            format!(
                r#"[{{"eventId":1,"portalId":4,"subscriptionType":"contact.creation","attemptNumber":{attempt}}}]"#
            )
        };
        let counts = |attempt| portal_events(&parsed(&body(attempt)));
        assert_eq!(counts(3)[0].earlier_retries, 2);
        let forged = counts(2_000_000_000);
        assert_eq!((forged[0].retried, forged[0].earlier_retries), (1, 9));
    }
}
