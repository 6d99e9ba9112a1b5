//! The HTTP surface: routes, shared state and the layers every request passes through
//! (sensitive headers hidden, a request id set and propagated, a span per request).

mod body;
mod error;
mod health;
mod install;
mod webhooks;

use std::sync::Arc;

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use hubspot::signature::{ClientSecret, Policy};
use store::Store;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::ingest::Ingest;
use crate::install::InstallFlow;

/// What handlers share; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingest: Ingest,
    pub public_url: Arc<str>,
    pub client_secret: ClientSecret,
    pub signature_policy: Policy,
    pub webhook_max_body: usize,
    /// The install flow, when an app is configured.
    pub install: Option<Arc<InstallFlow>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/hubspot", post(webhooks::receive))
        .route("/oauth/install", get(install::start))
        .route("/oauth/callback", get(install::callback))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    AUTHORIZATION,
                    COOKIE,
                ]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id)
}
