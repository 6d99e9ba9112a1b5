//! `GET /dashboard`: the operator dashboard, server-rendered from compile-time-checked
//! templates (askama, escaping on), behind a login that takes `SPOKE_OPERATOR_TOKEN`.
//! A session is a signed cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the public
//! URL is https, [`session`]); every form that changes something carries the session's
//! CSRF token; every page is sent with a `Content-Security-Policy` that allows only its
//! own stylesheet, and charts are inline SVG ([`charts`]), so nothing is fetched from
//! elsewhere and no script runs. Pages read and act through the same functions as the
//! admin API (`monitor::standings`, `ops::inspect`, `ops::dead_letters`).

mod access;
pub mod backoff;
pub mod charts;
mod pages;
pub mod session;

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

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
            "/dashboard/portals/{portal_id}/backfill",
            post(pages::backfill),
        )
        .route(
            "/dashboard/portals/{portal_id}/reconcile",
            post(pages::reconcile),
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
