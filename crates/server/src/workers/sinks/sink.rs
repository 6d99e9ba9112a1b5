//! What a sink is: a destination that takes one message at a time, and why it may not.

use async_trait::async_trait;

use super::message::Message;
use super::name::SinkName;

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
