//! The one place where failures become HTTP responses: short JSON bodies whose text is the
//! error's `Display`, never an inner error's text, a secret or an expected signature.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubspot::signature::SignatureError;
use hubspot::webhook::ParseError;
use serde_json::json;

use crate::ingest::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid signature: {0}")]
    Unauthorized(#[from] SignatureError),
    #[error("malformed payload: {0}")]
    BadRequest(#[from] ParseError),
    #[error("unreadable body")]
    UnreadableBody,
    #[error("payload too large")]
    TooLarge,
    #[error("temporarily unavailable: {0}")]
    Unavailable(IngestError),
    #[error("database not ready: {0}")]
    NotReady(#[source] store::StoreError),
    #[error("internal error")]
    Internal(IngestError),
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Failed => Self::Internal(error),
            _ => Self::Unavailable(error),
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::UnreadableBody => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = ?self, "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}
