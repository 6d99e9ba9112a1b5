//! The one place where failures become HTTP responses. Each [`ApiError`] has one status
//! and one public text (its `Display`), which never carries an inner error's text, a
//! secret or an expected signature; the cause goes to the log, every 5xx once at `error`
//! with its whole chain. JSON answers (webhooks, health, the admin API) and HTML pages (the
//! install flow, which a person sees) render the same status and text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubspot::signature::SignatureError;
use hubspot::webhook::ParseError;
use serde::Serialize;
use utoipa::ToSchema;

use super::page;
use crate::oauth::install::InstallError;
use crate::telemetry::Chain;
use crate::webhooks::group_commit::IngestError;
use crate::webhooks::receiver::ReceiveError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid signature")]
    Unauthorized(#[source] SignatureError),
    #[error("malformed payload")]
    BadRequest(#[source] ParseError),
    #[error("unreadable body")]
    UnreadableBody(#[source] axum::Error),
    #[error("payload too large")]
    TooLarge,
    /// spoke's own admission decision, not an inner error: safe, and worth saying.
    #[error("temporarily unavailable: inbox backlog is full")]
    BacklogFull,
    #[error("temporarily unavailable")]
    Unavailable(#[source] IngestError),
    #[error("database not ready")]
    NotReady(#[source] store::StoreError),
    /// Its text is written for the person installing and names no cause.
    #[error("{0}")]
    Install(#[from] InstallError),
    #[error("This spoke has no HubSpot app configured (SPOKE_HUBSPOT_CLIENT_ID).")]
    InstallNotConfigured,
    #[error("operator token required")]
    OperatorTokenRequired,
    #[error("{0}")]
    NotFound(&'static str),
    #[error(
        "unknown object type: use a path name such as contacts, or a type id such as 0-1 or 2-123"
    )]
    UnknownObjectType,
    #[error("unknown sink: use http or nats")]
    UnknownSink,
    /// A query string that does not parse, with what was wrong.
    #[error("{0}")]
    BadQuery(String),
    #[error("storage error")]
    Storage(#[from] store::StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ReceiveError> for ApiError {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::Signature(e) => Self::Unauthorized(e),
            ReceiveError::Payload(e) => Self::BadRequest(e),
            ReceiveError::Ingest(IngestError::BacklogFull) => Self::BacklogFull,
            ReceiveError::Ingest(e) if e.is_fault() => Self::Internal(e.into()),
            ReceiveError::Ingest(e) => Self::Unavailable(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::UnreadableBody(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BacklogFull | Self::Unavailable(_) | Self::NotReady(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Install(InstallError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Install(_) => StatusCode::BAD_REQUEST,
            Self::InstallNotConfigured | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::OperatorTokenRequired => StatusCode::UNAUTHORIZED,
            Self::UnknownObjectType | Self::UnknownSink | Self::BadQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Storage(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs the failure (5xx at `error`, the rest at `info`, always with the cause chain)
    /// and gives the status and public text to answer with.
    fn report(&self) -> (StatusCode, String) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %Chain(self), "request failed");
        } else {
            tracing::info!(status = status.as_u16(), error = %Chain(self), "request refused");
        }
        (status, self.to_string())
    }

    /// The same failure as a page for a person's browser.
    pub fn into_page(self, title: &str) -> Response {
        let (status, text) = self.report();
        page::render(status, title, &text)
    }
}

/// Every JSON error answer: `{"error": "…"}`, a public text only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.report();
        (status, Json(ErrorBody { error })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn client_texts_carry_no_inner_error_text() {
        let cause = store::StoreError::Unavailable(sqlx::Error::Protocol("secret detail".into()));
        let errors = [
            ApiError::Unauthorized(SignatureError::Mismatch),
            ApiError::NotReady(cause),
            ApiError::from(ReceiveError::Ingest(IngestError::Failed(Arc::new(
                store::StoreError::Other(sqlx::Error::Protocol("secret detail".into())),
            )))),
        ];
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            ["invalid signature", "database not ready", "internal error"]
        );
        assert_eq!(errors[2].status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(Chain(&errors[1]).to_string().contains("secret detail"));
    }
}
