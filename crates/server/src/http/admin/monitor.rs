//! The certification monitor and every portal's standing.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::state::AppState;
use crate::monitor::report::{app_report, portal_report, AppReport, PortalReport};
use crate::monitor::standings::{portal_page, PortalPage, PortalQuery};
use crate::ops::inspect::{portal_view, PortalDetail};
use store::PortalId;

/// A portal named in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PortalPath {
    /// The portal.
    pub portal_id: PortalId,
}

/// The monitor's endpoints answer 404 while it is off, rather than rates of nothing.
fn monitor_on(state: &AppState) -> Result<(), ApiError> {
    if state.tally.counting() {
        Ok(())
    } else {
        Err(ApiError::NotFound(
            "the certification monitor is off (SPOKE_MONITOR=off)",
        ))
    }
}

/// App-wide success rates over 1 h, 24 h, 7 and 30 days, the active alerts and the API
/// calls by day.
#[utoipa::path(
    get,
    path = "/monitor",
    tag = "monitor",
    responses(
        (status = 200, description = "The app-wide report", body = AppReport),
        (status = 404, description = "The monitor is off (SPOKE_MONITOR=off)", body = ErrorBody),
    ),
)]
pub async fn monitor(State(state): State<AppState>) -> Result<Json<AppReport>, ApiError> {
    monitor_on(&state)?;
    let report = app_report(
        state.store.as_ref(),
        &state.held_alerts(),
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json(report))
}

/// One portal's rates and alerts, its last hour minute by minute and its recent failures.
#[utoipa::path(
    get,
    path = "/portals/{portal_id}/monitor",
    tag = "monitor",
    params(PortalPath),
    responses(
        (status = 200, description = "The portal's report", body = PortalReport),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 404, description = "The monitor is off (SPOKE_MONITOR=off)", body = ErrorBody),
    ),
)]
pub async fn portal_monitor(
    State(state): State<AppState>,
    ApiPath(PortalPath { portal_id: portal }): ApiPath<PortalPath>,
) -> Result<Json<PortalReport>, ApiError> {
    monitor_on(&state)?;
    let report = portal_report(
        state.store.as_ref(),
        portal,
        &state.held_alerts(),
        state.clock.now_ms(),
    )
    .await?;
    Ok(Json(report))
}

/// Every portal's standing, ordered by risk, 50 to a page.
#[utoipa::path(
    get,
    path = "/portals",
    tag = "portals",
    params(PortalQuery),
    responses(
        (status = 200, description = "A page of portals, most at risk first", body = PortalPage),
        (status = 400, description = "A query that does not parse", body = ErrorBody),
    ),
)]
pub async fn portals(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PortalQuery>,
) -> Result<Json<PortalPage>, ApiError> {
    let all = state
        .standings
        .all(&state.store, state.alerts.levels(), state.clock.now_ms())
        .await?;
    Ok(Json(portal_page(&all, &query)))
}

/// One portal: install and token state (never a token), standing, dead letters,
/// quarantined events and audit trail.
#[utoipa::path(
    get,
    path = "/portals/{portal_id}",
    tag = "portals",
    params(PortalPath),
    responses(
        (status = 200, description = "The portal", body = PortalDetail),
        (status = 400, description = "An id that is not a number", body = ErrorBody),
        (status = 404, description = "spoke does not know this portal", body = ErrorBody),
    ),
)]
pub async fn portal(
    State(state): State<AppState>,
    ApiPath(PortalPath { portal_id: portal }): ApiPath<PortalPath>,
) -> Result<Json<PortalDetail>, ApiError> {
    let view = portal_view(
        state.store.as_ref(),
        state.hydrator.as_deref(),
        state.alerts.levels(),
        portal,
        state.clock.now_ms(),
    )
    .await?
    .ok_or(ApiError::NotFound("spoke does not know this portal"))?;
    Ok(Json(PortalDetail::from(&view)))
}
