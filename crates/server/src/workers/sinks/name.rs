//! The sinks' names: what the queue, dead letters, the configuration and operators call
//! them. A leaf, so the configuration can name sinks without depending on them.

/// The sinks there are, by the name the queue, dead letters and operators use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SinkName {
    Http,
    Nats,
}

impl SinkName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Nats => "nats",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Http, Self::Nats]
            .into_iter()
            .find(|sink| sink.as_str() == name)
    }
}
