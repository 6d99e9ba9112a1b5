//! `POST /webhooks/hubspot`: the body read within its limit, then
//! [`super::receiver::Receiver::receive`]; every answer is counted with how long it took,
//! for `/metrics` and for the certification monitor.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Json;
use hubspot::signature::{self, SignatureHeaders};
use serde::Serialize;

use crate::http::{read_limited, ApiError, AppState};
use crate::monitor::tally::{Answer, PortalEvents};

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
    let started = Instant::now();
    let (portals, answer) = acknowledge(&state, &uri, request).await;
    let took = started.elapsed();
    let (status, events) = match &answer {
        Ok(ack) => (StatusCode::OK, Some((ack.stored, ack.duplicates))),
        Err(error) => (error.status(), None),
    };
    let counted = Answer::of(status.as_u16(), took);
    state.receiver.metrics.observe(counted, took, events);
    state.tally.delivery(&portals, counted, took);
    answer
}

/// The answer, and the portals the delivery's verified events name.
async fn acknowledge(
    state: &AppState,
    uri: &axum::http::Uri,
    request: Request<Body>,
) -> (Vec<PortalEvents>, Result<Json<Ack>, ApiError>) {
    let receiver = &state.receiver;
    let (parts, body) = request.into_parts();
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
