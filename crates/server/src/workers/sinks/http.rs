//! The HTTP sink: each change POSTed as JSON to one endpoint, signed with the Standard
//! Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`), so receivers
//! verify it with any Standard Webhooks library. Any `2xx` is delivered; anything else is
//! retried by the dispatcher.

use std::time::Duration;

use async_trait::async_trait;
use hubspot::time::Clock;
use reqwest::header::CONTENT_TYPE;

use super::message::Message;
use super::name::SinkName;
use super::signing::SigningSecret;
use super::sink::{Sink, SinkError};
use crate::config::{HttpSinkConfig, SecretUrl};

/// An endpoint slower than this counts as failed (and is tried again).
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct HttpSink {
    client: reqwest::Client,
    url: SecretUrl,
    secret: SigningSecret,
    clock: Clock,
}

impl HttpSink {
    pub fn new(config: &HttpSinkConfig, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            client: hubspot::outbound::client(TIMEOUT),
            url: config.url.clone(),
            secret: config.secret.clone(),
            clock,
        })
    }
}

#[async_trait]
impl Sink for HttpSink {
    fn name(&self) -> SinkName {
        SinkName::Http
    }

    async fn deliver(&self, message: &Message) -> Result<(), SinkError> {
        // The timestamp is this attempt's (receivers refuse old ones); the id is the change's.
        let timestamp = self.clock.now_ms() / 1_000;
        let signature = self.secret.sign(&message.id, timestamp, &message.body);
        let mut request = self
            .client
            .post(self.url.expose().clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        if let Some(traceparent) = &message.traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request
            .body(message.body.clone())
            .send()
            .await
            .map_err(|e| SinkError::Unreachable(e.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SinkError::Refused(response.status().as_u16()))
        }
    }
}
