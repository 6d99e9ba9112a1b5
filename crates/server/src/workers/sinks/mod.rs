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
pub mod sink;

use hubspot::time::Clock;

use crate::config::SinkConfig;
pub use name::SinkName;
pub use sink::{Sink, SinkError};

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
