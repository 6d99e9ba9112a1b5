//! The NATS JetStream sink: each change published to `<subject>.<portalId>.<objectType>`
//! with its message id as `Nats-Msg-Id`, so JetStream drops a redelivery within the
//! stream's duplicate window. The stream is created over `<subject>.>` when missing (an
//! existing one is used as its operators configured it). The client connects in the
//! background and reconnects by itself; until then deliveries fail and are retried.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use super::message::Message;
use super::name::SinkName;
use super::sink::{Sink, SinkError};
use crate::config::NatsSinkConfig;

/// How long JetStream remembers message ids for new streams: longer than a crashed
/// worker's claims take to lapse, so the redelivery that follows a crash is dropped.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(900);

#[derive(Debug)]
pub struct NatsSink {
    jetstream: jetstream::Context,
    subject: String,
    stream: String,
    /// Set once the stream is known to exist.
    ready: OnceCell<()>,
}

impl NatsSink {
    pub async fn connect(config: &NatsSinkConfig) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(config.url.expose_secret())
            .await
            .map_err(|e| anyhow::anyhow!("SPOKE_NATS_URL: cannot connect to NATS: {e}"))?;
        Ok(Self {
            jetstream: jetstream::new(client),
            subject: config.subject.clone(),
            stream: config.stream.clone(),
            ready: OnceCell::new(),
        })
    }

    async fn ensure_stream(&self) -> Result<(), SinkError> {
        self.ready
            .get_or_try_init(|| async {
                self.jetstream
                    .get_or_create_stream(stream::Config {
                        name: self.stream.clone(),
                        subjects: vec![format!("{}.>", self.subject)],
                        duplicate_window: DUPLICATE_WINDOW,
                        ..stream::Config::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| SinkError::JetStream(Box::new(e)))
            })
            .await
            .copied()
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn name(&self) -> SinkName {
        SinkName::Nats
    }

    async fn deliver(&self, message: &Message) -> Result<(), SinkError> {
        self.ensure_stream().await?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.id.as_str());
        if let Some(traceparent) = &message.traceparent {
            headers.insert("traceparent", traceparent.as_str());
        }
        let subject = format!(
            "{}.{}.{}",
            self.subject, message.portal_id, message.object_type
        );
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, message.body.clone().into())
            .await
            .map_err(|e| SinkError::JetStream(Box::new(e)))?;
        ack.await.map_err(|e| SinkError::JetStream(Box::new(e)))?;
        Ok(())
    }
}
