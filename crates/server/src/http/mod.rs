//! The HTTP surface: the routes, what handlers share, and the layers every request passes
//! through (sensitive headers hidden, a request id set and propagated, a span named by the
//! route template, a timeout). Handlers live beside their domain (`webhooks::handler`,
//! `oauth::pages`) so each path reads in one folder; this module only knows where they
//! are mounted, and [`error`] is the one place failures become responses.

mod admin;
pub mod body;
pub mod client;
pub mod error;
mod extract;
mod health;
mod metrics;
pub mod page;
pub mod serve;
pub mod state;

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use admin::document as admin_api_document;
pub use state::AppState;

use crate::config::Role;
use crate::oauth::pages;
use crate::webhooks::handler as webhooks;

/// Longest any request may take before it is answered `503`. The install callback is the
/// slowest route (a code exchange and an introspection, each allowed 10 s); webhooks answer
/// within the group commit's 4 s budget long before this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `/metrics` alone, for a listener of its own (`SPOKE_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    layered(
        Router::new()
            .route("/metrics", get(metrics::exposition))
            .with_state(state),
    )
}

/// The routes of `role`: a worker serves only health, the admin API and the dashboard.
/// `/metrics` is among them unless it has a listener of its own (`metrics_apart`).
pub fn router(state: AppState, role: Role, metrics_apart: bool) -> Router {
    let receiving = Router::new()
        .route("/webhooks/hubspot", post(webhooks::receive))
        .route("/oauth/install", get(pages::start))
        .route("/oauth/callback", get(pages::callback));
    let routes = if role.receives() {
        receiving
    } else {
        Router::new()
    };
    let routes = routes
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready));
    let routes = if metrics_apart {
        routes
    } else {
        routes.route("/metrics", get(metrics::exposition))
    };
    layered(
        routes
            .merge(admin::routes(state.clone()))
            .merge(crate::dashboard::routes())
            .with_state(state),
    )
}

/// What every request goes through: sensitive headers kept out of traces, a request id
/// (taken from the request or made) on the request, its span and its answer, a span per
/// request, and the timeout.
fn layered(routes: Router) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                AUTHORIZATION,
                COOKIE,
            ]))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            ))
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// A request's span: method, route template (bounded, unlike raw paths, which carry ids)
/// and request id.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route, request_id)
}
