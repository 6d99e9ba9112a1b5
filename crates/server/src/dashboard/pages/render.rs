//! Rendering a page, or the short page that says why a request was refused.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use store::StoreError;

/// Pages that show live figures reload themselves this often.
pub(super) const REFRESH_SECONDS: u32 = 10;

#[derive(Template)]
#[template(path = "dashboard/refusal.html")]
struct RefusalPage<'a> {
    refresh_seconds: u32,
    status: String,
    message: &'a str,
}

/// A short page saying why a request was refused.
pub(in crate::dashboard) fn refusal(status: StatusCode, message: &str) -> Response {
    let page = RefusalPage {
        refresh_seconds: 0,
        status: status.to_string(),
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

pub(super) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "a dashboard template failed to render");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This page could not be drawn.",
            )
        }
    }
}

pub(super) fn store_refusal(error: StoreError) -> Response {
    tracing::warn!(error = %crate::telemetry::Chain(&error), "dashboard: the store failed");
    if error.is_unavailable() {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not reachable right now; this page will work again once it is.",
        )
    } else {
        refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The store failed to answer.",
        )
    }
}
