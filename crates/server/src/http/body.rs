//! A request body read whole, but never past the configured limit: a declared
//! `Content-Length` over the limit is refused before a byte of the body is read, and a
//! streamed body is cut off the moment it passes the limit.

use axum::body::{to_bytes, Body};
use axum::http::header::CONTENT_LENGTH;
use axum::http::HeaderMap;
use bytes::Bytes;

use super::error::ApiError;

/// Reads at most `limit` bytes of a request's body; `headers` are that request's.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge);
    }
    to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            ApiError::TooLarge
        } else {
            ApiError::UnreadableBody(error)
        }
    })
}
