//! HubSpot's error bodies: the API's `Error` shape (`status`, `message`, `correlationId`,
//! `category`, …) and the 429 body with its `policyName` (reference §4.4, §5.3).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::ratelimit::Exceeded;

fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An API error with HubSpot's body.
pub fn api_error(status: StatusCode, category: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "status": "error",
        "message": message.into(),
        "correlationId": correlation_id(),
        "category": category,
    });
    (status, Json(body)).into_response()
}

pub fn unauthorized(message: impl Into<String>) -> Response {
    api_error(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", message)
}

pub fn not_found(message: impl Into<String>) -> Response {
    api_error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
}

pub fn validation(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

/// The 429 body, as HubSpot sends it when a limit is exceeded.
pub fn rate_limited(exceeded: Exceeded) -> Response {
    let body = json!({
        "status": "error",
        "message": exceeded.message(),
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": exceeded.policy_name(),
        "requestId": correlation_id(),
        "category": "RATE_LIMITS",
    });
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

/// A 207 batch error for ids that could not be read.
/// A batch read's per-id error of another category (injected by a fault).
pub fn unread_ids(category: &str, ids: Vec<String>) -> Value {
    json!({
        "status": "error",
        "category": category,
        "message": "Could not read some objects (injected by spoke-sim).",
        "context": { "ids": ids },
        "errors": [],
        "links": {},
    })
}

/// Records an associations batch read asked for that do not exist.
pub fn missing_records(object_upper: &str, ids: Vec<String>) -> Value {
    json!({
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not find some {object_upper} objects."),
        "context": { "fromObjectId": ids },
        "errors": [],
        "links": {},
    })
}

/// Records an associations batch read asked for that have no associations of the type.
/// HubSpot's answer also carries `subCategory: "crm.associations.NO_ASSOCIATIONS_FOUND"`, a
/// string where its spec's `StandardError` has an object, so it is left out here.
pub fn no_associations(from_upper: &str, to_upper: &str, ids: Vec<String>) -> Value {
    json!({
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("No {to_upper} is associated with these {from_upper} objects."),
        "context": { "fromObjectId": ids },
        "errors": [],
        "links": {},
    })
}

pub fn missing_ids(object_upper: &str, ids: Vec<String>) -> Value {
    json!({
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not get some {object_upper} objects, they may be deleted or not exist. Check that ids are valid."),
        "context": { "ids": ids },
        "errors": [],
        "links": {},
    })
}
