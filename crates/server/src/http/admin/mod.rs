//! The admin API under `/api/v1/`, for operators and their tools: JSON in and out, every
//! request carrying `Authorization: Bearer <SPOKE_OPERATOR_TOKEN>` (`401` without it, and
//! always when no token is configured). A GET only reads: the store (the monitor's counts
//! as of its last flush), the alerts of the last evaluation and the hydrator's counters;
//! errors go through the one mapping in [`super::error`].
//!
//! The routes and their OpenAPI 3.1 document come from the same annotated handlers
//! ([`utoipa_axum`]), so the two cannot drift apart; the document is served at
//! `GET /api/v1/openapi.json` (without the token: it describes, it holds nothing) and kept
//! in `docs/admin-api.json`.

mod monitor;
mod records;
mod sync;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::AppState;

/// Where the admin API is mounted.
pub const BASE: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "spoke admin API",
        description = "Operators' view of spoke: mirrored records, dead letters and replay, \
                       quarantine, stats, the certification monitor, every portal's standing and its sync.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    security(("operator" = [])),
    modifiers(&OperatorToken),
    components(schemas(records::ObjectTypeName)),
)]
struct AdminApi;

/// The operator token, as a bearer token.
struct OperatorToken;

impl Modify for OperatorToken {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("SPOKE_OPERATOR_TOKEN"))
                    .build(),
            ),
        );
    }
}

/// Every documented route, mounted under [`BASE`].
fn documented() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(records::record))
        .routes(routes!(records::records))
        .routes(routes!(records::dead_letters))
        .routes(routes!(records::replay_one))
        .routes(routes!(records::replay_many))
        .routes(routes!(records::quarantine))
        .routes(routes!(records::stats))
        .routes(routes!(monitor::monitor))
        .routes(routes!(monitor::portals))
        .routes(routes!(monitor::portal))
        .routes(routes!(monitor::portal_monitor))
        .routes(routes!(sync::sync))
        .routes(routes!(sync::backfill))
        .routes(routes!(sync::reconcile));
    OpenApiRouter::with_openapi(AdminApi::openapi()).nest(BASE, api)
}

/// The admin API's OpenAPI document.
pub fn document() -> Document {
    let (_, document) = documented_routes();
    document
}

/// Every route and the document, which says of each that it refuses a request without
/// the token (`401`), as the layer in front of them all does.
fn documented_routes() -> (Router<AppState>, Document) {
    let (router, mut document) = documented().split_for_parts();
    let refused = ResponseBuilder::new()
        .description("Without the operator token")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in document.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            operation
                .responses
                .responses
                .insert("401".to_owned(), refused.clone().into());
        }
    }
    (router, document)
}

/// The admin API, every route behind the operator token, and its document.
pub fn routes(state: AppState) -> Router<AppState> {
    let (router, document) = documented_routes();
    let json = serde_json::to_value(&document).expect("the OpenAPI document serializes");
    router
        .route_layer(middleware::from_fn_with_state(state, require_operator))
        .route(
            &format!("{BASE}/openapi.json"),
            get(move || async move { Json(json) }),
        )
}

/// Lets a request through only with the operator token.
async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&state.operator_token, presented) {
        (Some(token), Some(presented)) if token.matches(presented) => Ok(next.run(request).await),
        _ => Err(ApiError::OperatorTokenRequired),
    }
}
