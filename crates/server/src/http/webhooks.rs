//! `POST /webhooks/hubspot`: size check, signature, parse, durable append, `200`.
//! Verification and parsing live in `hubspot`, persistence in `receiver`.

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Request};
use axum::Json;
use hubspot::signature::{self, SignatureHeaders, Unverified};
use hubspot::time::now_ms;
use hubspot::webhook::parse_batch;
use serde::Serialize;

use super::body::read_limited;
use super::error::ApiError;
use super::AppState;
use crate::receiver;

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
    let (parts, body) = request.into_parts();
    let body = read_limited(&parts.headers, body, state.webhook_max_body).await?;
    let signed_uri = format!(
        "{}{}",
        state.public_url,
        uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let verified = Unverified::new(
        parts.method.as_str(),
        &signed_uri,
        signature_headers(&parts.headers),
        &body,
    )
    .verify(&state.client_secret, state.signature_policy, now_ms())?;
    let events = parse_batch(&verified)?;
    let outcome = receiver::accept(&state.ingest, events).await?;
    Ok(Json(Ack {
        stored: outcome.stored,
        duplicates: outcome.duplicates,
    }))
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
