//! `GET /dashboard`: the operator dashboard, server-rendered from compile-time-checked
//! templates (askama, escaping on), behind a login that takes `SPOKE_OPERATOR_TOKEN`.
//! A session is a signed cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the public
//! URL is https, [`session`]); every form that changes something carries the session's
//! CSRF token; every page is sent with a `Content-Security-Policy` that allows only its
//! own stylesheet, and charts are inline SVG ([`charts`]), so nothing is fetched from
//! elsewhere and no script runs. Pages read and act through the same functions as the
//! admin API (`monitor::standings`, `ops::inspect`, `ops::dead_letters`).

pub mod charts;
mod pages;
pub mod session;

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use self::session::{Dashboard, Session, SESSION_COOKIE};
use crate::http::state::AppState;

/// Everything a page may load: its own stylesheet, and nothing that runs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(pages::overview))
        .route(
            "/dashboard/login",
            get(pages::login_form).post(pages::login),
        )
        .route("/dashboard/logout", post(pages::logout))
        .route("/dashboard/portals/{portal_id}", get(pages::portal))
        .route(
            "/dashboard/portals/{portal_id}/dead-letters/{id}/replay",
            post(pages::replay_one),
        )
        .route(
            "/dashboard/portals/{portal_id}/replay-all",
            post(pages::replay_all),
        )
        .route(
            "/dashboard/portals/{portal_id}/uninstall",
            post(pages::uninstall),
        )
        .route(
            "/dashboard/portals/{portal_id}/erase",
            get(pages::erase_form).post(pages::erase),
        )
        .route("/dashboard/assets/dashboard.css", get(stylesheet))
        .layer(middleware::map_response(security_headers))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/dashboard.css"),
    )
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The value of cookie `name` in a request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A signed-in operator: handlers that take one are refused without a valid session (a
/// page visit is sent to the login form, anything else gets `401`).
#[derive(Debug)]
pub struct Operator {
    dashboard: Arc<Dashboard>,
    session: Session,
    /// The session's CSRF token, for the page's forms.
    csrf: String,
}

impl Operator {
    /// `Ok` when a form carried this session's CSRF token; `403` otherwise.
    fn check_csrf(&self, presented: Option<&str>) -> Result<(), Refusal> {
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
        match cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|value| dashboard.sessions.check(value, now_s))
        {
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
        pages::refusal(self.0, self.1)
    }
}

/// The dashboard's state, for the login handlers (which run before a session exists).
struct Unsigned(Arc<Dashboard>);

impl FromRequestParts<AppState> for Unsigned {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Response> {
        dashboard_of(state)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

/// For handlers that only need the app state.
type App = State<AppState>;
