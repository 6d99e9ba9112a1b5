//! `GET /metrics`: the Prometheus scrape, in OpenMetrics text. Open like `/healthz` (it holds
//! counts, never a secret or a portal id); keep it off the public internet at the proxy.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use crate::metrics::HydratorCounts;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads no table: the tables' counts come from the background refresh.
pub async fn exposition(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(
        state.hydrator.as_ref().map(|h| HydratorCounts {
            crm_calls: h.crm_calls(),
            cache: h.cache_stats(),
        }),
        &state.alerts.active(),
    );
    ([(CONTENT_TYPE, OPENMETRICS)], text).into_response()
}
