//! `GET /oauth/install` and `GET /oauth/callback`: thin handlers over [`super::install`],
//! each first held to the per-address [`super::throttle`]. The install sets the
//! [`INSTALL_COOKIE`] the callback must bring back. The person installing sees a short
//! page; failures are 4xx and store nothing.

use axum::extract::{Query, State};
use axum::http::header::{HeaderMap, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::install::{Callback, InstallFlow, INSTALL_COOKIE};
use super::state::STATE_TTL_MS;
use crate::http::client::{cookie, ClientAddress};
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

/// A `429` page saying when to try again.
fn throttled(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let message = format!("Too many install attempts from here; try again in {seconds} s.");
    let mut page = page::render(StatusCode::TOO_MANY_REQUESTS, "Slow down", &message);
    page.headers_mut().insert(RETRY_AFTER, seconds.into());
    page
}

pub async fn start(State(state): State<AppState>, ClientAddress(from): ClientAddress) -> Response {
    let flow = match flow(&state) {
        Ok(flow) => flow,
        Err(error) => return error.into_page("Install unavailable"),
    };
    if let Err(wait) = flow.throttle.admit(from) {
        return throttled(wait);
    }
    let (url, nonce) = flow.start();
    let cookie = flow
        .cookie
        .set(INSTALL_COOKIE, &nonce, STATE_TTL_MS / 1_000);
    (StatusCode::FOUND, [(LOCATION, url), (SET_COOKIE, cookie)]).into_response()
}

pub async fn callback(
    State(state): State<AppState>,
    ClientAddress(from): ClientAddress,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let flow = match flow(&state) {
        Ok(flow) => flow,
        Err(error) => return error.into_page("Install unavailable"),
    };
    if let Err(wait) = flow.throttle.admit(from) {
        return throttled(wait);
    }
    let presented = cookie(&headers, INSTALL_COOKIE);
    let mut answer = complete(&state, flow, &callback, presented).await;
    let spent = flow.cookie.set(INSTALL_COOKIE, "", 0);
    answer.headers_mut().append(
        SET_COOKIE,
        spent.parse().expect("a cookie is a header value"),
    );
    answer
}

/// The page an install's callback ends on.
async fn complete(
    state: &AppState,
    flow: &InstallFlow,
    callback: &Callback,
    cookie: Option<&str>,
) -> Response {
    match flow.complete(state.store.as_ref(), callback, cookie).await {
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
