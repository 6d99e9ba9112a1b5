//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers and has
//! every migration), for load balancers and orchestrators.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::state::AppState;

pub async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ready().await.map_err(ApiError::NotReady)?;
    Ok(Json(json!({ "status": "ready" })))
}
