//! Signing in with the operator token, and out.

use askama::Template;
use axum::extract::Form;
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::session::{
    Dashboard, LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE, SESSION_SECONDS,
};
use super::actions::CheckedForm;
use super::render::{refusal, render};
use crate::dashboard::access::{App, Unsigned};
use crate::http::client::{cookie, ClientAddress};
use crate::http::state::AppState;

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage<'a> {
    refresh_seconds: u32,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
}

pub async fn login_form(Unsigned(dashboard): Unsigned, state: App) -> Response {
    login_page(&dashboard, &state, StatusCode::OK, None)
}

fn login_page(
    dashboard: &Dashboard,
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (nonce, csrf) = dashboard.sessions.login_form(state.clock.now_ms() / 1_000);
    let page = LoginPage {
        refresh_seconds: 0,
        csrf: &csrf,
        error,
    };
    let cookie = dashboard.cookie(LOGIN_COOKIE, &nonce, LOGIN_SECONDS);
    (status, [(SET_COOKIE, cookie)], render(&page)).into_response()
}

pub async fn login(
    Unsigned(dashboard): Unsigned,
    state: App,
    ClientAddress(from): ClientAddress,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now_s = state.clock.now_ms() / 1_000;
    let unspecified = std::net::IpAddr::from([0, 0, 0, 0]);
    let from = from.unwrap_or(unspecified);
    if let Err(wait) = dashboard.backoff.attempt(from, now_s) {
        tracing::warn!(client = %from, wait_s = wait, "dashboard: a sign-in refused while its address waits");
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many wrong operator tokens from here: try again in {wait} s."),
        );
    }
    let form_ok = match (cookie(&headers, LOGIN_COOKIE), form.csrf.as_deref()) {
        (Some(nonce), Some(csrf)) => dashboard.sessions.login_ok(nonce, csrf, now_s),
        _ => false,
    };
    if !form_ok {
        return refusal(
            StatusCode::FORBIDDEN,
            "This sign-in form's CSRF token is missing or expired: open the sign-in page again.",
        );
    }
    let token_ok = match (&state.operator_token, form.token.as_deref()) {
        (Some(token), Some(presented)) => token.matches(presented),
        _ => false,
    };
    if !token_ok {
        tracing::warn!(client = %from, "dashboard: a sign-in with a wrong operator token");
        return login_page(
            &dashboard,
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That is not the operator token."),
        );
    }
    dashboard.backoff.succeeded(from);
    tracing::info!(client = %from, "dashboard: an operator signed in");
    let session = dashboard.cookie(
        SESSION_COOKIE,
        &dashboard.sessions.open(now_s),
        SESSION_SECONDS,
    );
    let spent = dashboard.cookie(LOGIN_COOKIE, "", 0);
    (
        AppendHeaders([(SET_COOKIE, session), (SET_COOKIE, spent)]),
        Redirect::to("/dashboard"),
    )
        .into_response()
}

/// Ends the session everywhere: its nonce is recorded as revoked, so a copy of the cookie
/// is refused too; then the browser's cookie is cleared.
pub async fn logout(state: App, CheckedForm { operator, .. }: CheckedForm) -> Response {
    let session = &operator.session;
    let expires_ms = session.expires_s.saturating_mul(1_000);
    if let Err(error) = state
        .store
        .revoke_session(&session.nonce, expires_ms, state.clock.now_ms())
        .await
    {
        tracing::warn!(error = %error, "dashboard: a sign-out could not be recorded");
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-out could not be recorded: try again shortly.",
        );
    }
    tracing::info!("dashboard: an operator signed out");
    let cleared = operator.dashboard.cookie(SESSION_COOKIE, "", 0);
    ([(SET_COOKIE, cleared)], Redirect::to("/dashboard/login")).into_response()
}
