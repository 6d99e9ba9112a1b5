//! The admin API under `/api/v1/`, for operators and their tools: JSON in and out, every
//! request carrying `Authorization: Bearer <SPOKE_OPERATOR_TOKEN>` (`401` without it, and
//! always when no token is configured). Handlers only read the store (and the hydrator's
//! counters) and shape the answer; errors go through the one mapping in [`super::error`].

use std::collections::BTreeMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use hubspot::crm::ObjectType;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{Replay, SetAside, SetAsideEvent};

use super::{ApiError, AppState};

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
    limit: Option<u32>,
}

fn event_json(event: &SetAsideEvent) -> Value {
    json!({
        "id": event.id,
        "portalId": event.portal_id,
        "objectId": event.object_id,
        "subscriptionType": event.subscription_type,
        "attempts": event.attempts,
        "reason": event.reason,
        "lastError": event.last_error,
    })
}

async fn set_aside(
    state: &AppState,
    kind: SetAside,
    listing: &Listing,
) -> Result<Vec<Value>, ApiError> {
    let limit = listing.limit.unwrap_or(100).min(MAX_LIST);
    let events = state
        .store
        .set_aside_events(kind, listing.portal, limit)
        .await?;
    Ok(events.iter().map(event_json).collect())
}

async fn dead_letters(
    State(state): State<AppState>,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, ApiError> {
    let dead = set_aside(&state, SetAside::Dead, &listing).await?;
    Ok(Json(json!({ "deadLetters": dead })))
}

async fn quarantine(
    State(state): State<AppState>,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, ApiError> {
    let held = set_aside(&state, SetAside::Quarantined, &listing).await?;
    Ok(Json(json!({ "quarantined": held })))
}

async fn replay_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let replayed = state.store.replay(Replay::One(id)).await?;
    Ok(Json(json!({ "replayed": replayed })))
}

#[derive(Debug, Deserialize)]
struct Which {
    portal: Option<i64>,
}

/// A portal's dead letters (`?portal=`), or all.
async fn replay_many(
    State(state): State<AppState>,
    Query(which): Query<Which>,
) -> Result<Json<Value>, ApiError> {
    let which = which.portal.map_or(Replay::All, Replay::Portal);
    let replayed = state.store.replay(which).await?;
    Ok(Json(json!({ "replayed": replayed })))
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
    Ok(Json(json!({
        "deadLetters": inbox.get("dead").copied().unwrap_or(0),
        "quarantined": inbox.get("quarantined").copied().unwrap_or(0),
        "recordsMirrored": records.values().sum::<i64>(),
        "rateLimited": calls.get("429").copied().unwrap_or(0),
        "inbox": inbox,
        "records": records,
        "crmCalls": calls,
    })))
}
