//! Spans to an OpenTelemetry collector over OTLP/HTTP (protobuf), batched on the SDK's own
//! thread so a slow collector never slows a request. Sampling follows the SDK's standard
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (every trace by default).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use url::Url;

/// The signal path OTLP/HTTP collectors serve traces on, below the base URL that
/// `SPOKE_OTLP_ENDPOINT` names (as `OTEL_EXPORTER_OTLP_ENDPOINT` does).
const TRACES_PATH: &str = "v1/traces";

#[derive(Debug)]
pub(super) struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    pub(super) fn new(endpoint: &Url) -> anyhow::Result<Self> {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint).as_str())
            .build()
            .map_err(|e| anyhow::anyhow!("SPOKE_OTLP_ENDPOINT: {e}"))?;
        let resource = Resource::builder()
            .with_service_name("spoke")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans for this exporter.
    pub(super) fn layer<S>(
        &self,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("spoke"))
    }

    pub(super) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(error = %error, "spans not exported at shutdown");
        }
    }
}

/// `http://collector:4318` → `http://collector:4318/v1/traces`; a URL that already names
/// the traces path is kept.
fn traces_url(endpoint: &Url) -> Url {
    if endpoint.path().trim_end_matches('/').ends_with(TRACES_PATH) {
        return endpoint.clone();
    }
    let mut url = endpoint.clone();
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/{TRACES_PATH}"));
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_to_a_base_url_once() {
        let url = |s: &str| traces_url(&Url::parse(s).unwrap()).to_string();
        assert_eq!(url("http://otel:4318"), "http://otel:4318/v1/traces");
        assert_eq!(url("http://otel:4318/"), "http://otel:4318/v1/traces");
        assert_eq!(url("https://otel/prefix/"), "https://otel/prefix/v1/traces");
        assert_eq!(
            url("http://otel:4318/v1/traces"),
            "http://otel:4318/v1/traces"
        );
    }
}
