//! One classification of HubSpot's failures, for the OAuth and the CRM clients alike.
//!
//! An answer that is not a success keeps its HTTP status, HubSpot's error body (every
//! field optional: the legacy OAuth bodies carry only `status`, the API's carry
//! `category`, 429s carry `policyName`; reference §1.7, §4.4, §5.3) and `Retry-After` when
//! present. What a caller needs to decide is asked of [`HubSpotError::kind`]. Texts never
//! contain a token or the client secret.

use std::time::Duration;

use crate::time::LONGEST_WAIT;

use serde::Deserialize;

/// HubSpot's error body; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The legacy OAuth code (`BAD_REFRESH_TOKEN`) or the API's `"error"`.
    pub status: Option<String>,
    /// RFC 6749's code (`invalid_grant`) on OAuth answers.
    pub error: Option<String>,
    /// `MISSING_SCOPES`, `OBJECT_NOT_FOUND`, `RATE_LIMITS`, …: an open set.
    pub category: Option<String>,
    pub message: Option<String>,
    /// Which limit a 429 hit: `TEN_SECONDLY_ROLLING`, `DAILY`, `SECONDLY`.
    pub policy_name: Option<String>,
    /// Support asks for it; keep it in logs.
    pub correlation_id: Option<String>,
}

/// What went wrong calling HubSpot.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// HubSpot answered with an error status.
    #[error("HubSpot answered HTTP {status} ({})", .body.category.as_deref().or(.body.status.as_deref()).or(.body.error.as_deref()).unwrap_or("no code"))]
    Answered {
        status: u16,
        /// Boxed: errors travel in `Result`s, and the body is rarely read.
        body: Box<ErrorBody>,
        /// `Retry-After`, when HubSpot sent one (documented for 477; honoured on 429 too).
        retry_after: Option<Duration>,
    },
    /// No answer: timeout, connection refused or reset.
    #[error("HubSpot could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// A success whose body does not parse.
    #[error("unexpected answer from HubSpot")]
    Unexpected(#[source] reqwest::Error),
    /// A success that parses but does not hold what HubSpot documents.
    #[error("unexpected answer from HubSpot: {0}")]
    Malformed(&'static str),
}

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The credential is dead (`BAD_REFRESH_TOKEN`, `BAD_AUTH_CODE`, `invalid_grant`): only
    /// a new install brings the portal back.
    Revoked,
    /// `401` on an API call: the access token was refused; refresh once and retry.
    Unauthorized,
    /// `403 MISSING_SCOPES`: no retry helps until the app's scopes change.
    MissingScopes,
    /// `404`.
    NotFound,
    /// `429`: wait for the window (or `Retry-After`).
    RateLimited,
    /// `5xx`, `423`, `477` or no answer: try again later.
    Transient,
    /// Any other refusal, or an answer that does not parse: a fault to report.
    Refused,
}

impl HubSpotError {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Answered { status, body, .. } => {
                let revoked = matches!(
                    body.status.as_deref(),
                    Some("BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE")
                ) || body.error.as_deref() == Some("invalid_grant");
                match status {
                    _ if revoked => Kind::Revoked,
                    401 => Kind::Unauthorized,
                    403 if body.category.as_deref() == Some("MISSING_SCOPES") => {
                        Kind::MissingScopes
                    }
                    404 => Kind::NotFound,
                    429 => Kind::RateLimited,
                    423 | 477 | 500..=599 => Kind::Transient,
                    _ => Kind::Refused,
                }
            }
            Self::Unreachable(_) => Kind::Transient,
            Self::Unexpected(_) | Self::Malformed(_) => Kind::Refused,
        }
    }

    /// The credential is dead: only a new install brings the portal back.
    pub fn is_revoked(&self) -> bool {
        self.kind() == Kind::Revoked
    }

    /// Whether the same call may succeed later (5xx, 429, no answer).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), Kind::Transient | Kind::RateLimited)
    }

    /// `Retry-After`, when HubSpot sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Answered { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The 429's `policyName`, when there is one.
    pub fn policy_name(&self) -> Option<&str> {
        match self {
            Self::Answered { body, .. } => body.policy_name.as_deref(),
            _ => None,
        }
    }

    /// Classifies an answer that is not a success; reads its body.
    pub(crate) async fn from_answer(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = Box::new(response.json().await.unwrap_or_default());
        Self::Answered {
            status,
            body,
            retry_after,
        }
    }

    /// A call that got no answer. The URL is left out: texts stay short and uniform.
    pub(crate) fn unreachable(error: reqwest::Error) -> Self {
        Self::Unreachable(error.without_url())
    }

    pub(crate) fn unexpected(error: reqwest::Error) -> Self {
        Self::Unexpected(error.without_url())
    }
}

/// `Retry-After` in seconds (HubSpot sends no dates), at most [`LONGEST_WAIT`].
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(seconds).min(LONGEST_WAIT))
}

#[cfg(test)]
pub(crate) fn answered(status: u16, body: ErrorBody) -> HubSpotError {
    HubSpotError::Answered {
        status,
        body: Box::new(body),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(field: &str, value: &str) -> ErrorBody {
        let mut body = ErrorBody::default();
        let value = Some(value.to_owned());
        match field {
            "status" => body.status = value,
            "error" => body.error = value,
            "category" => body.category = value,
            _ => unreachable!("a field of ErrorBody"),
        }
        body
    }

    #[test]
    fn every_answer_has_one_kind() {
        let cases = [
            (400, code("status", "BAD_REFRESH_TOKEN"), Kind::Revoked),
            (400, code("error", "invalid_grant"), Kind::Revoked),
            (400, code("status", "BAD_AUTH_CODE"), Kind::Revoked),
            (400, code("status", "BAD_CLIENT_SECRET"), Kind::Refused),
            (
                401,
                code("category", "INVALID_AUTHENTICATION"),
                Kind::Unauthorized,
            ),
            (403, code("category", "MISSING_SCOPES"), Kind::MissingScopes),
            (403, code("category", "PERMISSION_DENIED"), Kind::Refused),
            (404, code("category", "OBJECT_NOT_FOUND"), Kind::NotFound),
            (429, code("category", "RATE_LIMITS"), Kind::RateLimited),
            (477, ErrorBody::default(), Kind::Transient),
            (502, ErrorBody::default(), Kind::Transient),
        ];
        for (status, body, kind) in cases {
            let error = answered(status, body.clone());
            assert_eq!(error.kind(), kind, "{status} {body:?}");
        }
        assert!(answered(503, ErrorBody::default()).is_transient());
        assert!(answered(429, ErrorBody::default()).is_transient());
        assert!(!answered(403, code("category", "MISSING_SCOPES")).is_transient());
    }

    #[test]
    fn texts_name_the_code_never_the_message() {
        let mut body = code("category", "RATE_LIMITS");
        body.message = Some("You have reached your secondly limit.".into());
        assert_eq!(
            answered(429, body).to_string(),
            "HubSpot answered HTTP 429 (RATE_LIMITS)"
        );
    }

    #[test]
    fn retry_after_is_seconds_and_at_most_a_day() {
        let headers = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::RETRY_AFTER, value.parse().unwrap());
            headers
        };
        assert_eq!(retry_after(&headers(" 30 ")), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(&headers("9999999999")), Some(LONGEST_WAIT));
        assert_eq!(retry_after(&headers("99999999999999999999999")), None);
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }
}
