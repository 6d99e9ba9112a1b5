//! Who calls the CRM API, and which object types they may read: what every CRM endpoint
//! checks first.

use axum::http::StatusCode;
use axum::response::Response;

use crate::errors;
use crate::objects::{ObjectType, SIMULATED};
use crate::tokens::Grant;

/// Who is calling: the grant behind the request's token, set by `crm::gate`.
#[derive(Debug, Clone)]
pub struct Caller(pub Grant);

/// The object type of a path segment, if the portal has it and the caller may read it;
/// else HubSpot's refusal.
pub(crate) fn readable(segment: &str, caller: &Grant) -> Result<ObjectType, Box<Response>> {
    let object = ObjectType::from_path(segment)
        .filter(|o| SIMULATED.contains(o))
        .ok_or_else(|| {
            Box::new(errors::validation(format!(
                "Unable to infer object type from: {segment}"
            )))
        })?;
    if !object.read_scopes().iter().any(|s| caller.has_scope(s)) {
        return Err(Box::new(errors::api_error(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            format!(
                "This app hasn't been granted all required scopes to make this call. Required: {}",
                object.read_scope()
            ),
        )));
    }
    Ok(object)
}
