//! `GET /oauth/install` and `GET /oauth/callback`: thin handlers over [`super::install`].
//! The person installing sees a short page; failures are 4xx and store nothing.

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::install::{Callback, InstallFlow};
use crate::http::error::ApiError;
use crate::http::page;
use crate::http::state::AppState;

const FAILED: &str = "Installation failed";

fn flow(state: &AppState) -> Result<&InstallFlow, ApiError> {
    state
        .install
        .as_deref()
        .ok_or(ApiError::InstallNotConfigured)
}

pub async fn start(State(state): State<AppState>) -> Response {
    match flow(&state) {
        Ok(flow) => (StatusCode::FOUND, [(LOCATION, flow.start())]).into_response(),
        Err(error) => error.into_page("Install unavailable"),
    }
}

pub async fn callback(State(state): State<AppState>, Query(callback): Query<Callback>) -> Response {
    let flow = match flow(&state) {
        Ok(flow) => flow,
        Err(error) => return error.into_page("Install unavailable"),
    };
    match flow.complete(state.store.as_ref(), &callback).await {
        Ok(installed) => match &flow.success_url {
            Some(url) => (StatusCode::FOUND, [(LOCATION, url.clone())]).into_response(),
            None => {
                let verb = if installed.reinstall {
                    "reconnected"
                } else {
                    "connected"
                };
                let message = format!(
                    "HubSpot account {} is {verb}. You can close this page.",
                    installed.portal_id
                );
                page::render(StatusCode::OK, "App installed", &message)
            }
        },
        Err(error) => ApiError::from(error).into_page(FAILED),
    }
}
