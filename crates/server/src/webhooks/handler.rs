//! `POST /webhooks/hubspot`: the signature headers checked, the body read within its
//! limit, then
//! [`super::receiver::Receiver::receive`]; every answer is counted with how long it took,
//! for `/metrics` and for the certification monitor. Each delivery is a `webhook.receive`
//! span, the root of its events' traces.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Json;
use hubspot::signature::{self, SignatureHeaders};
use serde::Serialize;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::http::body::read_limited;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::monitor::tally::{Answer, PortalEvents};
use crate::telemetry::context;

/// The acknowledgement body; HubSpot ignores it, operators reading logs of a replay do not.
#[derive(Debug, Serialize)]
pub struct Ack {
    stored: u32,
    duplicates: u32,
}

pub async fn receive(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    request: Request<Body>,
) -> Result<Json<Ack>, ApiError> {
    let span = tracing::info_span!(
        target: context::TRACED,
        "webhook.receive",
        portal_id = Empty,
        portal_ids = Empty,
        events = Empty,
        http.status_code = Empty,
    );
    let started = Instant::now();
    let trace = context::traceparent(&span);
    let (portals, answer) = acknowledge(&state, &uri, request, trace)
        .instrument(span.clone())
        .await;
    let took = started.elapsed();
    let (status, events) = match &answer {
        Ok(ack) => (StatusCode::OK, Some((ack.stored, ack.duplicates))),
        Err(error) => (error.status(), None),
    };
    record_delivery(&span, &portals, status);
    let counted = Answer::of(status.as_u16(), took);
    state.receiver.metrics.observe(counted, took, events);
    state.tally.delivery(&portals, counted, took);
    answer
}

/// The span learns the delivery's portals (one `portal_id`, or the list when HubSpot
/// batched several) once its events are verified, and the answer. Numbers are recorded
/// as `i64`, which exporters keep as integers (unsigned ones arrive as text).
fn record_delivery(span: &Span, portals: &[PortalEvents], status: StatusCode) {
    match portals {
        [] => {}
        [portal] => {
            span.record("portal_id", portal.portal_id.0);
        }
        several => {
            let ids: Vec<String> = several.iter().map(|p| p.portal_id.to_string()).collect();
            span.record("portal_ids", ids.join(","));
        }
    }
    let events: u32 = portals.iter().map(|p| p.first + p.retried).sum();
    span.record("events", i64::from(events));
    span.record("http.status_code", i64::from(status.as_u16()));
}

/// The answer, and the portals the delivery's verified events name. Its events are stored
/// with `trace`, the delivery's span.
async fn acknowledge(
    state: &AppState,
    uri: &axum::http::Uri,
    request: Request<Body>,
    trace: Option<String>,
) -> (Vec<PortalEvents>, Result<Json<Ack>, ApiError>) {
    let receiver = &state.receiver;
    let (parts, body) = request.into_parts();
    // No signature, or a stale one, is refused before a byte of the body is read.
    if let Err(refused) = receiver.check_headers(signature_headers(&parts.headers)) {
        return (Vec::new(), Err(ApiError::from(refused)));
    }
    let body = match read_limited(&parts.headers, body, receiver.max_body).await {
        Ok(body) => body,
        Err(error) => return (Vec::new(), Err(error)),
    };
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let receipt = receiver
        .receive(
            parts.method.as_str(),
            path,
            signature_headers(&parts.headers),
            &body,
            trace,
        )
        .await;
    let answer = receipt.result.map_err(ApiError::from).map(|outcome| {
        Json(Ack {
            stored: outcome.stored,
            duplicates: outcome.duplicates,
        })
    });
    (receipt.portals, answer)
}

fn signature_headers(headers: &HeaderMap) -> SignatureHeaders<'_> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    SignatureHeaders {
        v3: get(signature::HEADER_SIGNATURE_V3),
        timestamp: get(signature::HEADER_TIMESTAMP),
        legacy: get(signature::HEADER_SIGNATURE),
        legacy_version: get(signature::HEADER_SIGNATURE_VERSION),
    }
}
