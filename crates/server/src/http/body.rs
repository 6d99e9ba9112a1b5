//! A request body read whole, but never past the configured limit: a declared
//! `Content-Length` over the limit is refused before a byte of the body is read, and a
//! streamed body is cut off the moment it passes the limit.

use axum::body::{to_bytes, Body};
use axum::http::header::CONTENT_LENGTH;
use axum::http::Request;
use bytes::Bytes;

use super::error::ApiError;

/// Reads at most `limit` bytes of `request`'s body.
pub async fn read_limited(request: Request<Body>, limit: usize) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::TooLarge);
    }
    to_bytes(request.into_body(), limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            ApiError::TooLarge
        } else {
            ApiError::UnreadableBody
        }
    })
}
