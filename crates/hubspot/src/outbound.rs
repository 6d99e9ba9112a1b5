//! The one way spoke builds a client for calls it makes (HubSpot's OAuth and CRM APIs,
//! the alert webhook, the HTTP sink): bounded in time, and never following a redirect, so
//! a `307` cannot resend a client secret, a refresh token or a signed body elsewhere.

use std::time::Duration;

/// A client whose every call ends within `timeout` and takes any `3xx` as the answer.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with rustls builds")
}
