//! `GET /metrics`: the Prometheus scrape, in OpenMetrics text. Open like `/healthz` (it holds
//! counts, never a secret or a portal id); keep it off the public internet at the proxy.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;
use crate::metrics::HydratorCounts;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn exposition(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .render(
            state.store.as_ref(),
            state.hydrator.as_ref().map(|h| HydratorCounts {
                crm_calls: h.crm_calls(),
                cache: h.cache_stats(),
            }),
            &state.alerts.active(),
        )
        .await?;
    Ok(([(CONTENT_TYPE, OPENMETRICS)], text).into_response())
}
