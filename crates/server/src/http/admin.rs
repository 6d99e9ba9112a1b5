//! The admin API under `/api/v1/`, for operators and their tools: JSON in and out, every
//! request carrying `Authorization: Bearer <SPOKE_OPERATOR_TOKEN>` (`401` without it, and
//! always when no token is configured). A GET only reads: the store (the monitor's counts
//! as of its last flush), the alerts of the last evaluation and the hydrator's counters;
//! errors go through the one mapping in [`super::error`].

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use hubspot::crm::ObjectType;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{Replay, SetAside};

use super::{ApiError, AppState};
use crate::monitor::report::{app_report, portal_report};
use crate::monitor::standings::{portal_page, PortalQuery};
use crate::ops::dead_letters::{dead_letters as all_dead_letters, replay_dead};
use crate::ops::inspect::{event_json, portal_view};
use crate::workers::sinks::SinkName;

/// Most events one listing returns.
const MAX_LIST: u32 = 1_000;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/records/{portal_id}/{object_type}/{object_id}",
            get(record),
        )
        .route("/dead-letters", get(dead_letters))
        .route("/dead-letters/{id}/replay", post(replay_one))
        .route("/dead-letters/replay", post(replay_many))
        .route("/quarantine", get(quarantine))
        .route("/stats", get(stats))
        .route("/monitor", get(monitor))
        .route("/portals", get(portals))
        .route("/portals/{portal_id}", get(portal))
        .route("/portals/{portal_id}/monitor", get(portal_monitor))
        .route_layer(middleware::from_fn_with_state(state, require_operator))
}

/// Lets a request through only with the operator token.
async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&state.operator_token, presented) {
        (Some(token), Some(presented)) if token.matches(presented) => Ok(next.run(request).await),
        _ => Err(ApiError::OperatorTokenRequired),
    }
}

async fn record(
    State(state): State<AppState>,
    Path((portal, object_type, object_id)): Path<(i64, String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let object = ObjectType::from_path(&object_type).ok_or(ApiError::UnknownObjectType)?;
    let record = state
        .store
        .mirrored(portal, object.plural(), object_id)
        .await?
        .ok_or(ApiError::NotFound("no such record in the mirror"))?;
    let properties: Value =
        serde_json::from_str(&record.properties).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(json!({
        "portalId": record.portal_id,
        "objectType": record.object_type,
        "objectId": record.object_id,
        "state": record.state,
        "updatedAt": record.updated_at,
        "fetchedAt": record.fetched_at,
        "properties": properties,
    })))
}

#[derive(Debug, Deserialize)]
struct Listing {
    portal: Option<i64>,
    sink: Option<String>,
    limit: Option<u32>,
}

impl Listing {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(100).min(MAX_LIST)
    }
}

/// `?sink=`, which must name a sink.
fn sink_of(name: Option<&str>) -> Result<Option<SinkName>, ApiError> {
    name.map(|n| SinkName::parse(n).ok_or(ApiError::UnknownSink))
        .transpose()
}

/// The hydrator's dead letters (`"sink": null`) and the sinks', or one sink's (`?sink=`).
async fn dead_letters(
    State(state): State<AppState>,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, ApiError> {
    let sink = sink_of(listing.sink.as_deref())?;
    let dead =
        all_dead_letters(state.store.as_ref(), listing.portal, sink, listing.limit()).await?;
    Ok(Json(json!({ "deadLetters": dead.json() })))
}

async fn quarantine(
    State(state): State<AppState>,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, ApiError> {
    let held = state
        .store
        .set_aside_events(SetAside::Quarantined, listing.portal, listing.limit())
        .await?;
    Ok(Json(
        json!({ "quarantined": held.iter().map(event_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
struct Which {
    portal: Option<i64>,
    sink: Option<String>,
}

/// One event's dead letter, or with `?sink=` that sink's delivery.
async fn replay_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(which): Query<Which>,
) -> Result<Json<Value>, ApiError> {
    let sink = sink_of(which.sink.as_deref())?;
    let replayed = replay_dead(state.store.as_ref(), Replay::One(id), sink).await?;
    Ok(Json(json!({ "replayed": replayed })))
}

/// A portal's dead letters (`?portal=`), or all; the hydrator's and every sink's, or one
/// sink's (`?sink=`).
async fn replay_many(
    State(state): State<AppState>,
    Query(which): Query<Which>,
) -> Result<Json<Value>, ApiError> {
    let sink = sink_of(which.sink.as_deref())?;
    let portals = which.portal.map_or(Replay::All, Replay::Portal);
    let replayed = replay_dead(state.store.as_ref(), portals, sink).await?;
    Ok(Json(json!({ "replayed": replayed })))
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

async fn monitor(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    monitor_on(&state)?;
    let alerts = state.held_alerts();
    let now = state.clock.now_ms();
    Ok(Json(app_report(state.store.as_ref(), &alerts, now).await?))
}

async fn portal_monitor(
    State(state): State<AppState>,
    Path(portal): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    monitor_on(&state)?;
    let alerts = state.held_alerts();
    let now = state.clock.now_ms();
    Ok(Json(
        portal_report(state.store.as_ref(), portal, &alerts, now).await?,
    ))
}

/// Every portal's standing, ordered by risk: `?q=` (a portal id or part of its domain),
/// `?state=` (installed, needs_reauth, uninstalled, at_risk), `?page=` (from 1).
async fn portals(
    State(state): State<AppState>,
    query: Result<Query<PortalQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let levels = state.alerts.levels();
    let all = state
        .standings
        .all(&state.store, levels, state.clock.now_ms())
        .await?;
    Ok(Json(json!(portal_page(&all, levels, &query))))
}

async fn portal(
    State(state): State<AppState>,
    Path(portal): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let view = portal_view(
        state.store.as_ref(),
        state.alerts.levels(),
        portal,
        state.clock.now_ms(),
    )
    .await?
    .ok_or(ApiError::NotFound("spoke does not know this portal"))?;
    Ok(Json(view.json()))
}

async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let by_state =
        |counts: Vec<(String, i64)>| -> BTreeMap<String, i64> { counts.into_iter().collect() };
    let inbox = by_state(state.store.queue_counts().await?);
    let records = by_state(state.store.record_counts().await?);
    let calls: BTreeMap<String, u64> = state
        .hydrator
        .as_ref()
        .map(|h| h.crm_calls())
        .unwrap_or_default()
        .into_iter()
        .map(|(status, n)| (status.to_string(), n))
        .collect();
    let cache = state
        .hydrator
        .as_ref()
        .map(|h| h.cache_stats())
        .map(|c| json!({ "hits": c.hits, "misses": c.misses, "entries": c.entries }));
    let mut sinks: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in state.store.delivery_counts().await? {
        sinks
            .entry(count.sink)
            .or_default()
            .insert(count.state, count.count);
    }
    Ok(Json(json!({
        "deadLetters": inbox.get("dead").copied().unwrap_or(0),
        "sinkDeadLetters": sinks.values().filter_map(|s| s.get("dead")).sum::<i64>(),
        "sinks": sinks,
        "quarantined": inbox.get("quarantined").copied().unwrap_or(0),
        "recordsMirrored": records.values().sum::<i64>(),
        "rateLimited": calls.get("429").copied().unwrap_or(0),
        "inbox": inbox,
        "records": records,
        "crmCalls": calls,
        "recordCache": cache,
    })))
}
