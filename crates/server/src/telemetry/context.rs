//! A trace carried across the inbox and the sinks' queue: a span's context is stored with
//! the rows it produced as a W3C `traceparent`, and the span that later works on a row
//! continues that trace (or links to it, when one span serves many rows). Without an OTLP
//! exporter spans have no context, nothing is stored, and this costs nothing.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the spans that make up an event's trace: only these are exported, so a
/// trace is the event's path and health probes or admin calls add no traces of their own.
pub const TRACED: &str = "spoke::trace";

const TRACEPARENT: &str = "traceparent";

/// The span's context as a `traceparent`, when it is traced.
pub fn traceparent(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// `span` continues the trace of `traceparent` (when there is one and it parses).
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    if let Some(context) = traceparent.and_then(parse) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(context));
    }
}

/// `span` also served the traces of `traceparents`: each becomes a link.
pub fn link_traces<'a>(span: &Span, traceparents: impl IntoIterator<Item = &'a str>) {
    for context in traceparents.into_iter().filter_map(parse) {
        span.add_link(context);
    }
}

fn parse(traceparent: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span = context.span().span_context().clone();
    span.is_valid().then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_untraced_span_stores_nothing_and_bad_contexts_are_ignored() {
        assert_eq!(traceparent(&tracing::info_span!("untraced")), None);
        assert!(parse("not a traceparent").is_none());
        let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = parse(stored).expect("a W3C example parses");
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
    }
}
