//! `GET /oauth/install` and `GET /oauth/callback`: thin handlers over [`crate::install`].
//! The person installing sees a short page; failures are 4xx and store nothing.

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::install::{Callback, InstallError};
use crate::tokens::now_ms;

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p id=\"message\">{}</p></body></html>",
        escape(message)
    );
    (status, Html(body)).into_response()
}

fn not_configured() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Install unavailable",
        "This spoke has no HubSpot app configured (SPOKE_HUBSPOT_CLIENT_ID).",
    )
}

pub async fn start(State(state): State<AppState>) -> Response {
    match &state.install {
        Some(flow) => (StatusCode::FOUND, [(LOCATION, flow.start(now_ms()))]).into_response(),
        None => not_configured(),
    }
}

pub async fn callback(State(state): State<AppState>, Query(callback): Query<Callback>) -> Response {
    let Some(flow) = &state.install else {
        return not_configured();
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
                page(
                    StatusCode::OK,
                    "App installed",
                    &format!(
                        "HubSpot account {} is {verb}. You can close this page.",
                        installed.portal_id
                    ),
                )
            }
        },
        Err(error) => {
            let status = match &error {
                InstallError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::info!(error = %error, "install refused");
            page(status, "Installation failed", &error.to_string())
        }
    }
}
