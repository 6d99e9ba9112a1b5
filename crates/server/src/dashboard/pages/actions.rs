//! What an operator does from a portal's page: replay dead letters, uninstall, erase.
//! Each takes a [`CheckedForm`]: a signed-in session's form carrying its CSRF token.

use askama::Template;
use axum::extract::{Form, FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use store::{PortalId, Replay, Requested};

use super::render::{refusal, render, store_refusal};
use crate::dashboard::access::{App, Operator};
use crate::http::state::AppState;
use crate::oauth::removal;
use crate::ops::dead_letters::replay_dead;
use crate::ops::sync::{request_backfill, request_reconciliation, RequestError};
use crate::workers::sinks::SinkName;

#[derive(Template)]
#[template(path = "dashboard/erase.html")]
struct ErasePage<'a> {
    refresh_seconds: u32,
    csrf: &'a str,
    portal_id: PortalId,
    error: Option<&'a str>,
}

/// What the actions' forms carry.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
    /// A sink dead letter's sink (empty: the hydrator's).
    sink: Option<String>,
    /// The erase confirmation: the portal id, typed.
    confirm: Option<String>,
}

/// A signed-in operator's form whose CSRF token is the session's. Without a session the
/// request is refused as [`Operator`] refuses it; without the token, `403`.
pub struct CheckedForm {
    pub(super) operator: Operator,
    pub(super) form: CsrfForm,
}

impl FromRequest<AppState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<CsrfForm>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        operator
            .check_csrf(form.csrf.as_deref())
            .map_err(IntoResponse::into_response)?;
        Ok(Self { operator, form })
    }
}

fn back_to(portal_id: PortalId, query: &str) -> Response {
    Redirect::to(&format!("/dashboard/portals/{portal_id}{query}")).into_response()
}

pub async fn replay_one(
    state: App,
    Path((portal_id, id)): Path<(PortalId, i64)>,
    CheckedForm { form, .. }: CheckedForm,
) -> Response {
    let sink = match form.sink.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => match SinkName::parse(name) {
            Some(sink) => Some(sink),
            None => return refusal(StatusCode::BAD_REQUEST, "unknown sink: use http or nats"),
        },
    };
    // The letter is replayed only if it is this portal's: the page's portal is the scope.
    let which = Replay::OneOf {
        id,
        portal: portal_id,
    };
    match replay_dead(state.store.as_ref(), which, sink).await {
        Ok(n) => back_to(portal_id, &format!("?replayed={n}")),
        Err(error) => store_refusal(error),
    }
}

pub async fn replay_all(state: App, Path(portal_id): Path<PortalId>, _: CheckedForm) -> Response {
    match replay_dead(state.store.as_ref(), Replay::Portal(portal_id), None).await {
        Ok(n) => back_to(portal_id, &format!("?replayed={n}")),
        Err(error) => store_refusal(error),
    }
}

/// Asks for a backfill of every hydrated type; one already running goes on.
pub async fn backfill(state: App, Path(portal_id): Path<PortalId>, _: CheckedForm) -> Response {
    let now = state.clock.now_ms();
    match request_backfill(state.store.as_ref(), portal_id, None, now).await {
        Ok(Requested::Started) => back_to(portal_id, "?sync=started"),
        Ok(Requested::AlreadyRunning) => back_to(portal_id, "?sync=running"),
        Err(RequestError::Store(error)) => store_refusal(error),
        Err(error) => refusal(StatusCode::NOT_FOUND, &error.to_string()),
    }
}

/// Makes the portal's reconciliation due now; one already running goes on.
pub async fn reconcile(state: App, Path(portal_id): Path<PortalId>, _: CheckedForm) -> Response {
    let now = state.clock.now_ms();
    match request_reconciliation(state.store.as_ref(), portal_id, now).await {
        Ok(Requested::Started) => back_to(portal_id, "?sync=reconcile"),
        Ok(Requested::AlreadyRunning) => back_to(portal_id, "?sync=reconciling"),
        Err(RequestError::Store(error)) => store_refusal(error),
        Err(error) => refusal(StatusCode::NOT_FOUND, &error.to_string()),
    }
}

pub async fn uninstall(state: App, Path(portal_id): Path<PortalId>, _: CheckedForm) -> Response {
    let Some(tokens) = &state.tokens else {
        return refusal(
            StatusCode::CONFLICT,
            "No HubSpot app is configured here (SPOKE_HUBSPOT_CLIENT_ID), so spoke cannot uninstall at HubSpot.",
        );
    };
    match removal::uninstall(
        state.store.as_ref(),
        tokens,
        portal_id,
        "operator:dashboard",
    )
    .await
    {
        Ok(()) => back_to(portal_id, "?uninstalled=1"),
        Err(error) => refusal(StatusCode::CONFLICT, &error.to_string()),
    }
}

pub async fn erase_form(operator: Operator, Path(portal_id): Path<PortalId>) -> Response {
    render(&ErasePage {
        refresh_seconds: 0,
        csrf: &operator.csrf,
        portal_id,
        error: None,
    })
}

pub async fn erase(
    state: App,
    Path(portal_id): Path<PortalId>,
    CheckedForm { operator, form }: CheckedForm,
) -> Response {
    if form.confirm.as_deref().map(str::trim) != Some(portal_id.to_string().as_str()) {
        let page = ErasePage {
            refresh_seconds: 0,
            csrf: &operator.csrf,
            portal_id,
            error: Some("The id typed is not this portal's: nothing was erased."),
        };
        return (StatusCode::BAD_REQUEST, render(&page)).into_response();
    }
    let now_ms = state.clock.now_ms();
    match removal::erase(
        state.store.as_ref(),
        portal_id,
        "operator:dashboard",
        now_ms,
    )
    .await
    {
        Ok(()) => Redirect::to("/dashboard").into_response(),
        Err(error) => refusal(StatusCode::CONFLICT, &error.to_string()),
    }
}
