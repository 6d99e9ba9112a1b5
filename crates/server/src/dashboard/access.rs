//! Who may see a page: a signed-in operator ([`Operator`], a valid session cookie) or,
//! for the sign-in pages, anyone while the dashboard is on ([`Unsigned`]); and the page a
//! refused request gets.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::render::refusal;
use super::session::{Dashboard, Session, SESSION_COOKIE};
use crate::http::client::cookie;
use crate::http::state::AppState;

/// A signed-in operator: handlers that take one are refused without a valid session, one
/// signed out included (a page visit is sent to the login form, anything else gets `401`).
#[derive(Debug)]
pub struct Operator {
    pub(super) dashboard: Arc<Dashboard>,
    pub(super) session: Session,
    /// The session's CSRF token, for the page's forms.
    pub(super) csrf: String,
}

impl Operator {
    /// `Ok` when a form carried this session's CSRF token; `403` otherwise.
    pub(super) fn check_csrf(&self, presented: Option<&str>) -> Result<(), Refusal> {
        match presented {
            Some(token) if self.dashboard.sessions.csrf_ok(&self.session, token) => Ok(()),
            _ => Err(Refusal(
                StatusCode::FORBIDDEN,
                "This form's CSRF token is missing or not this session's: reload the page and try again.",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let dashboard = dashboard_of(state).map_err(IntoResponse::into_response)?;
        let now_s = state.clock.now_ms() / 1_000;
        let signed = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|value| dashboard.sessions.check(value, now_s));
        let session = match signed {
            Some(session) => live(state, session).await?,
            None => None,
        };
        match session {
            Some(session) => Ok(Self {
                csrf: dashboard.sessions.csrf(&session),
                dashboard,
                session,
            }),
            None if parts.method == Method::GET => {
                Err(Redirect::to("/dashboard/login").into_response())
            }
            None => Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "Sign in first: this request carried no valid session.",
            )
            .into_response()),
        }
    }
}

/// The session unless it was signed out; a store that cannot say refuses the request.
async fn live(state: &AppState, session: Session) -> Result<Option<Session>, Response> {
    match state.store.session_revoked(&session.nonce).await {
        Ok(revoked) => Ok((!revoked).then_some(session)),
        Err(error) => {
            tracing::warn!(error = %error, "dashboard: cannot check the session's revocation");
            Err(Refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable: try again shortly.",
            )
            .into_response())
        }
    }
}

/// The dashboard, or a page saying it is off (no operator token configured).
fn dashboard_of(state: &AppState) -> Result<Arc<Dashboard>, Refusal> {
    state.dashboard.clone().ok_or(Refusal(
        StatusCode::NOT_FOUND,
        "The dashboard is off: set SPOKE_OPERATOR_TOKEN to turn it on.",
    ))
}

/// A request the dashboard turns down, with the reason an operator reads.
#[derive(Debug)]
pub struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refusal(self.0, self.1)
    }
}

/// The dashboard's state, for the login handlers (which run before a session exists).
pub(super) struct Unsigned(pub(super) Arc<Dashboard>);

impl FromRequestParts<AppState> for Unsigned {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Response> {
        dashboard_of(state)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

/// For handlers that only need the app state.
pub(super) type App = State<AppState>;
