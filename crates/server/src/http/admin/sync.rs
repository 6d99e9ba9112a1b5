//! A portal's sync: where its backfill stands and what its last reconciliation found, and
//! asking for either.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::monitor::PortalPath;
use super::records::ObjectTypeName;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::state::AppState;
use crate::ops::sync::{
    report, request_backfill, request_reconciliation, RequestError, SyncReport,
};
use store::Requested;

/// Where the portal's sync stands: its latest backfill and the drift its last
/// reconciliation found, type by type.
#[utoipa::path(
    get,
    path = "/portals/{portal_id}/sync",
    tag = "sync",
    params(PortalPath),
    responses(
        (status = 200, description = "The portal's sync", body = SyncReport),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 404, description = "spoke does not know this portal", body = ErrorBody),
    ),
)]
pub async fn sync(
    State(state): State<AppState>,
    ApiPath(PortalPath { portal_id: portal }): ApiPath<PortalPath>,
) -> Result<Json<SyncReport>, ApiError> {
    let report = report(state.store.as_ref(), portal, state.clock.now_ms())
        .await?
        .ok_or(ApiError::NotFound("spoke does not know this portal"))?;
    Ok(Json(report))
}

/// Which types a backfill reads.
#[derive(Debug, Deserialize)]
pub struct BackfillQuery {
    #[serde(rename = "type")]
    object_type: Option<String>,
}

/// What a request for a backfill did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillAccepted {
    /// `started`, or `alreadyRunning` (a backfill is pending or running: it goes on, and
    /// this request adds nothing).
    pub backfill: &'static str,
}

/// What a request for a reconciliation did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileAccepted {
    /// `started` (due now), or `alreadyRunning` (it goes on, and this request adds
    /// nothing).
    pub reconciliation: &'static str,
}

fn requested(requested: Requested) -> &'static str {
    match requested {
        Requested::Started => "started",
        Requested::AlreadyRunning => "alreadyRunning",
    }
}

fn refused(error: RequestError) -> ApiError {
    match error {
        RequestError::UnknownPortal => ApiError::NotFound("spoke does not know this portal"),
        RequestError::UnknownType => ApiError::UnknownObjectType,
        RequestError::Store(error) => ApiError::Storage(error),
    }
}

/// Makes the portal's reconciliation due now: records HubSpot changed since the last run,
/// and its counts, compared with the mirror, and what webhooks never said repaired.
#[utoipa::path(
    post,
    path = "/portals/{portal_id}/reconcile",
    tag = "sync",
    params(PortalPath),
    responses(
        (status = 202, description = "Due now, or already running", body = ReconcileAccepted),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 404, description = "spoke does not know this portal", body = ErrorBody),
    ),
)]
pub async fn reconcile(
    State(state): State<AppState>,
    ApiPath(PortalPath { portal_id: portal }): ApiPath<PortalPath>,
) -> Result<(StatusCode, Json<ReconcileAccepted>), ApiError> {
    let now = state.clock.now_ms();
    let done = request_reconciliation(state.store.as_ref(), portal, now)
        .await
        .map_err(refused)?;
    let reconciliation = requested(done);
    Ok((
        StatusCode::ACCEPTED,
        Json(ReconcileAccepted { reconciliation }),
    ))
}

/// Asks for a backfill: the portal's records read again from HubSpot's list API, within
/// its rate limit behind live events, by whichever spoke worker leases it.
#[utoipa::path(
    post,
    path = "/portals/{portal_id}/backfill",
    tag = "sync",
    params(
        PortalPath,
        ("type" = Option<ObjectTypeName>, Query, description = "Only this type: a path name (`contacts`) or type id (`0-1`, `2-…`); every hydrated type without it"),
    ),
    responses(
        (status = 202, description = "Asked for, or already running", body = BackfillAccepted),
        (status = 400, description = "An id or type that is not one", body = ErrorBody),
        (status = 404, description = "spoke does not know this portal", body = ErrorBody),
    ),
)]
pub async fn backfill(
    State(state): State<AppState>,
    ApiPath(PortalPath { portal_id: portal }): ApiPath<PortalPath>,
    ApiQuery(query): ApiQuery<BackfillQuery>,
) -> Result<(StatusCode, Json<BackfillAccepted>), ApiError> {
    let now = state.clock.now_ms();
    let done = request_backfill(
        state.store.as_ref(),
        portal,
        query.object_type.as_deref(),
        now,
    )
    .await
    .map_err(refused)?;
    let backfill = requested(done);
    Ok((StatusCode::ACCEPTED, Json(BackfillAccepted { backfill })))
}
