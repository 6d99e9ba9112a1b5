//! The sinks beside the record mirror: a signed HTTP endpoint ([`http`]) and NATS
//! JetStream ([`nats`]). Settling a hydration round queues each change the mirror accepts
//! for every configured sink (`store::SinkQueue`); one [`dispatcher::Dispatcher`] per sink
//! claims its own queue, so one failing sink never holds up another, and retries,
//! dead-letters and replays on its own. Every message carries an id that names its change
//! ([`message`]), so a redelivery is recognisable downstream.

pub mod dispatcher;
pub mod http;
pub mod message;
pub mod name;
pub mod nats;
pub mod signing;

use async_trait::async_trait;
use hubspot::time::Clock;

use self::message::Message;
use crate::config::SinkConfig;
pub use name::SinkName;

/// One destination for hydrated changes.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    fn name(&self) -> SinkName;

    /// Delivers one message; `Ok` only once the destination has taken it.
    async fn deliver(&self, message: &Message) -> Result<(), SinkError>;
}

/// Why a delivery did not happen; the text becomes the delivery's last error, so it never
/// holds a secret or the endpoint's URL.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the endpoint answered {0}")]
    Refused(u16),
    #[error("the endpoint could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("JetStream did not acknowledge the message")]
    JetStream(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The configured sinks, unconnected: NATS connects in the background and keeps trying.
pub async fn configured(
    config: &SinkConfig,
    clock: Clock,
) -> anyhow::Result<Vec<std::sync::Arc<dyn Sink>>> {
    let mut sinks: Vec<std::sync::Arc<dyn Sink>> = Vec::new();
    if let Some(endpoint) = &config.http {
        sinks.push(std::sync::Arc::new(http::HttpSink::new(endpoint, clock)?));
    }
    if let Some(nats) = &config.nats {
        sinks.push(std::sync::Arc::new(nats::NatsSink::connect(nats).await?));
    }
    Ok(sinks)
}
