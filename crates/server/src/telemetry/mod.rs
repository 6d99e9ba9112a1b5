//! Logging and tracing set-up: an env-filter and a text or JSON layer on stdout (JSON logs
//! are what pipelines, and the checklist suite, consume), and spans exported over OTLP
//! when `SPOKE_OTLP_ENDPOINT` is set ([`otlp`]); [`context`] carries a trace through the
//! inbox and the sinks' queue.

pub mod context;
mod otlp;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use clap::{Args, ValueEnum};

/// The logging and tracing flags, global to every command.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter, in `tracing` env-filter syntax (e.g. `info,spoke_server=debug`).
    #[arg(long, global = true, env = "SPOKE_LOG", default_value = "info")]
    pub log: String,
    /// `text` for people, `json` for log pipelines.
    #[arg(long, global = true, env = "SPOKE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// OTLP/HTTP collector to export traces to (e.g. `http://otel-collector:4318`; spans go
    /// to `/v1/traces` below it). Traces are off when unset.
    #[arg(long, global = true, env = "SPOKE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<url::Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The installed telemetry; [`Telemetry::shutdown`] sends the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<otlp::Exporter>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (spans end with the process
    /// otherwise); a collector that cannot be reached is logged, not an error.
    pub fn shutdown(self) {
        if let Some(traces) = self.traces {
            traces.shutdown();
        }
    }
}

/// Installs the global subscriber; fails if the filter or the OTLP endpoint is invalid.
pub fn init(args: &LogArgs) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(&args.log).map_err(|e| anyhow::anyhow!("SPOKE_LOG: {e}"))?;
    let logs = match args.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
    };
    let traces = args
        .otlp_endpoint
        .as_ref()
        .map(otlp::Exporter::new)
        .transpose()?;
    // Only the spans of an event's path are exported, whatever the log filter says.
    let spans = traces.as_ref().map(|exporter| {
        exporter
            .layer()
            .with_filter(Targets::new().with_target(context::TRACED, tracing::Level::INFO))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()?;
    Ok(Telemetry { traces })
}

/// An error and its causes, `outer: inner: innermost`, for log fields: `Display` of an
/// error alone drops the cause that says what actually went wrong.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_shows_every_cause() {
        let error = Outer(std::io::Error::other("disk gone"));
        assert_eq!(Chain(&error).to_string(), "outer: disk gone");
    }
}
