//! HubSpot's OAuth 2.0 for public apps (reference §1): the authorize page with its consent
//! step, the token endpoint on every path HubSpot serves it (v1, v3, 2026-03, 2026-09),
//! token information and introspection, revocation, and the app-uninstall API.
//!
//! A person installs through the consent page; tests and scripts can set the decision in
//! advance (`PUT /_sim/oauth/consent`), and authorize then redirects at once. Where HubSpot
//! documents no exact behaviour (error `status` codes other than `BAD_AUTH_CODE` and
//! `BAD_REFRESH_TOKEN`, the revoke success status, the inactive introspection shape) the
//! simulator does what the reference calls most likely, noted where it happens.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors;
use crate::tokens::{CodeProblem, Grant};
use crate::{Settings, SharedSim, Sim};

/// The app as registered with HubSpot: what authorize and the token endpoint check.
#[derive(Debug, Clone)]
pub struct App {
    pub app_id: i64,
    pub client_id: String,
    client_secret: String,
    /// Registered redirect URLs; empty accepts any http(s) URL with a host name.
    pub redirect_uris: Vec<String>,
    pub required_scopes: Vec<String>,
    /// Scopes of tokens issued through the admin API.
    pub scopes: Vec<String>,
    pub access_token_ttl_s: u64,
    pub auth_code_ttl_s: u64,
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

impl App {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            app_id: settings.app_id,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            redirect_uris: settings.redirect_uris.clone(),
            required_scopes: words(&settings.required_scopes),
            scopes: words(&settings.scopes),
            access_token_ttl_s: settings.access_token_ttl,
            auth_code_ttl_s: settings.auth_code_ttl,
        }
    }

    /// HubSpot: the redirect URL must match the app's, use a host name (no IP address),
    /// and be https except for localhost.
    fn accepts_redirect(&self, redirect_uri: &str) -> Result<url::Url, &'static str> {
        let url = url::Url::parse(redirect_uri).map_err(|_| "redirect_uri is not a URL")?;
        if !self.redirect_uris.is_empty() && !self.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err("redirect_uri does not match the app's redirect URLs");
        }
        match url.host() {
            Some(url::Host::Domain(host)) if url.scheme() == "https" || host == "localhost" => {
                Ok(url)
            }
            Some(url::Host::Domain(_)) => {
                Err("redirect_uri must use https (http only for localhost)")
            }
            _ => Err("redirect_uri must use a domain name, not an IP address"),
        }
    }
}

/// A consent decision made ahead of the authorize request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoConsent {
    pub portal: i64,
    pub approve: bool,
}

/// An authorize request waiting for the user's decision.
#[derive(Debug, Clone)]
pub struct Authorization {
    redirect: url::Url,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    /// Set when the authorize URL named the account (`/oauth/{accountId}/authorize`).
    account: Option<i64>,
}

pub fn routes(sim: SharedSim) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize_any))
        .route("/oauth/{account}/authorize", get(authorize_account))
        .route("/oauth/authorize/decision", post(decide))
        .route("/oauth/{version}/token", post(token))
        .route("/oauth/{version}/token/introspect", post(introspect))
        .route("/oauth/{version}/token/revoke", post(revoke))
        .route("/oauth/v1/access-tokens/{token}", get(access_token_info))
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            get(refresh_token_info).delete(delete_refresh_token),
        )
        .route("/appinstalls/{version}/external-install", delete(uninstall))
        .route("/_sim/oauth/consent", put(set_consent))
        .route("/_sim/oauth/stats", get(stats))
        .with_state(sim)
}

/// The versions HubSpot serves each OAuth endpoint under (reference §1.6).
fn token_version(version: &str) -> bool {
    matches!(version, "v1" | "v3" | "2026-03" | "2026-09")
}

fn introspection_version(version: &str) -> bool {
    matches!(version, "v3" | "2026-03" | "2026-09")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// HubSpot shows authorize errors on its own page rather than redirecting.
fn error_page(message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Something went wrong</h1><p id=\"error\">{}</p></body></html>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn redirect(to: url::Url) -> Response {
    (StatusCode::FOUND, [(LOCATION, to.to_string())]).into_response()
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    optional_scope: Option<String>,
    state: Option<String>,
}

async fn authorize_any(
    State(sim): State<SharedSim>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    authorize(&sim, query, None)
}

async fn authorize_account(
    State(sim): State<SharedSim>,
    Path(account): Path<i64>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    authorize(&sim, query, Some(account))
}

fn authorize(sim: &SharedSim, query: AuthorizeQuery, account: Option<i64>) -> Response {
    let app = &sim.app;
    if query.client_id.as_deref() != Some(app.client_id.as_str()) {
        return error_page("The client_id is not the id of a known app.");
    }
    let Some(redirect_uri) = query.redirect_uri else {
        return error_page("redirect_uri is missing.");
    };
    let redirect = match app.accepts_redirect(&redirect_uri) {
        Ok(url) => url,
        Err(problem) => return error_page(problem),
    };
    let requested = words(query.scope.as_deref().unwrap_or_default());
    let missing: Vec<&String> = app
        .required_scopes
        .iter()
        .filter(|s| !requested.contains(s))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return error_page(&format!(
            "The authorization URL is missing required scopes: {}",
            names.join(" ")
        ));
    }
    let mut scopes = requested;
    for optional in words(query.optional_scope.as_deref().unwrap_or_default()) {
        if !scopes.contains(&optional) {
            scopes.push(optional);
        }
    }
    let pending = Authorization {
        redirect,
        redirect_uri,
        scopes,
        state: query.state,
        account,
    };
    if let Some(consent) = *sim.consent.lock().expect("consent lock") {
        return conclude(sim, pending, consent.portal, consent.approve);
    }
    let request = uuid::Uuid::new_v4().simple().to_string();
    let page = consent_page(sim, &pending, &request);
    sim.pending
        .lock()
        .expect("pending lock")
        .insert(request, pending);
    Html(page).into_response()
}

fn consent_page(sim: &SharedSim, pending: &Authorization, request: &str) -> String {
    let portals: Vec<i64> = match pending.account {
        Some(account) => vec![account],
        None => sim.world(|w| w.portal_ids().take(50).collect()),
    };
    let options: String = portals
        .iter()
        .map(|p| format!("<option value=\"{p}\">Account {p}</option>"))
        .collect();
    let scopes: String = pending
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connect app</title></head><body>\
         <h1>Connect app {app_id} to your HubSpot account</h1>\
         <p>It will be able to:</p><ul id=\"scopes\">{scopes}</ul>\
         <form method=\"post\" action=\"/oauth/authorize/decision\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <label>Account <select name=\"portal\">{options}</select></label> \
         <button name=\"decision\" value=\"approve\">Connect app</button> \
         <button name=\"decision\" value=\"deny\">Cancel</button>\
         </form></body></html>",
        app_id = sim.app.app_id,
    )
}

#[derive(Debug, Deserialize)]
struct Decision {
    request: String,
    portal: i64,
    decision: String,
}

async fn decide(State(sim): State<SharedSim>, Form(decision): Form<Decision>) -> Response {
    let Some(pending) = sim
        .pending
        .lock()
        .expect("pending lock")
        .remove(&decision.request)
    else {
        return error_page("This authorization request is unknown or was already answered.");
    };
    conclude(
        &sim,
        pending,
        decision.portal,
        decision.decision == "approve",
    )
}

/// Redirects back to the app: with a code (and the portal now has the app) or an error.
fn conclude(sim: &SharedSim, pending: Authorization, portal: i64, approve: bool) -> Response {
    let mut to = pending.redirect;
    {
        let mut query = to.query_pairs_mut();
        if approve
            && pending.account.is_none_or(|a| a == portal)
            && sim.world(|w| w.portal(portal)).is_some()
        {
            let _ = sim.world(|w| w.update_portal(portal, |p| p.installed = true));
            let grant = Grant::for_portal(portal, pending.scopes);
            let code = sim.tokens(|t| {
                t.issue_code(
                    grant,
                    &pending.redirect_uri,
                    sim.app.auth_code_ttl_s,
                    sim.now_ms(),
                )
            });
            query.append_pair("code", &code);
        } else if approve {
            drop(query);
            return error_page("That account cannot install this app.");
        } else {
            query.append_pair("error", "access_denied");
            query.append_pair("error_description", "The user denied the request.");
        }
        if let Some(state) = &pending.state {
            query.append_pair("state", state);
        }
    }
    redirect(to)
}

/// The token endpoints' error body: RFC 6749 fields and HubSpot's own (reference §1.7),
/// plus the spec's `Error` fields.
fn token_error(error: &str, status: &str, message: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": message,
        "status": status,
        "message": message,
        "category": "BAD_REQUEST",
        "correlationId": uuid::Uuid::new_v4().to_string(),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Checks the version and client credentials of an introspect or revoke request.
fn check_introspection(
    app: &App,
    version: &str,
    form: &HashMap<String, String>,
) -> Result<(), Box<Response>> {
    if !introspection_version(version) {
        return Err(Box::new(errors::not_found("No such OAuth version.")));
    }
    check_client(app, form)
}

/// Checks the client credentials of a form; `Err` is the response to send.
fn check_client(app: &App, form: &HashMap<String, String>) -> Result<(), Box<Response>> {
    if form.get("client_id") != Some(&app.client_id) {
        return Err(Box::new(token_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or unknown client id",
        )));
    }
    if form.get("client_secret") != Some(&app.client_secret) {
        return Err(Box::new(token_error(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client secret",
        )));
    }
    Ok(())
}

async fn token(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !token_version(&version) {
        return errors::not_found("No such OAuth version.");
    }
    if let Err(refusal) = check_client(&sim.app, &form) {
        return *refusal;
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let (ttl, now) = (sim.app.access_token_ttl_s, sim.now_ms());
    let issued = match field("grant_type") {
        "authorization_code" => sim
            .tokens(|t| t.redeem(field("code"), field("redirect_uri"), ttl, now))
            .map_err(|problem| match problem {
                CodeProblem::Unknown => token_error(
                    "invalid_grant",
                    "BAD_AUTH_CODE",
                    "missing or unknown auth code",
                ),
                CodeProblem::RedirectMismatch => token_error(
                    "invalid_grant",
                    "BAD_REDIRECT_URI",
                    "redirect_uri does not match the authorization request",
                ),
            }),
        "refresh_token" => {
            sim.refresh_calls
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            sim.tokens(|t| t.refresh(field("refresh_token"), ttl, now))
                .ok_or_else(|| {
                    token_error(
                        "invalid_grant",
                        "BAD_REFRESH_TOKEN",
                        "refresh token is invalid, expired or revoked",
                    )
                })
        }
        _ => Err(token_error(
            "unsupported_grant_type",
            "BAD_GRANT_TYPE",
            "grant_type must be authorization_code or refresh_token",
        )),
    };
    match issued {
        Ok(pair) => Json(pair).into_response(),
        Err(response) => response,
    }
}

fn hub_domain(portal: i64) -> String {
    format!("portal-{portal}.example.com")
}

/// The access-token facts both the v1 metadata and the introspection carry.
fn access_facts(sim: &Sim, token: &str, grant: &Grant, expires_at_ms: i64) -> Value {
    let (app, now) = (&sim.app, sim.now_ms());
    json!({
        "token": token,
        "user": grant.user_email(),
        "hub_domain": hub_domain(grant.portal),
        "scopes": grant.scopes,
        "hub_id": grant.portal,
        "app_id": app.app_id,
        "expires_in": (expires_at_ms - now).max(0) / 1000,
        "user_id": grant.user_id,
        "token_type": "access",
        "is_private_distribution": false,
        "signed_access_token": {
            "expiresAt": expires_at_ms,
            "scopes": grant.scopes.join(","),
            "hubId": grant.portal,
            "userId": grant.user_id,
            "appId": app.app_id,
            "signature": uuid::Uuid::new_v4().simple().to_string(),
            "newSignature": uuid::Uuid::new_v4().simple().to_string(),
            "scopeToScopeGroupPks": "",
            "trialScopes": "",
            "trialScopeToScopeGroupPks": "",
            "hublet": "na1",
            "isUserLevel": false,
            "installingUserId": grant.user_id,
            "isServiceAccount": false,
            "isPrivateDistribution": false,
            "appInstallId": format!("{}-{}", app.app_id, grant.portal),
            "audience": app.client_id,
        },
    })
}

fn refresh_facts(app: &App, token: &str, grant: &Grant) -> Value {
    json!({
        "token": token,
        "user": grant.user_email(),
        "hub_domain": hub_domain(grant.portal),
        "scopes": grant.scopes,
        "hub_id": grant.portal,
        "client_id": app.client_id,
        "user_id": grant.user_id,
        "token_type": "refresh",
    })
}

async fn access_token_info(State(sim): State<SharedSim>, Path(token): Path<String>) -> Response {
    let facts = sim.tokens(|t| {
        t.access_grant(&token, sim.now_ms())
            .ok()
            .map(|(g, at)| access_facts(&sim, &token, g, at))
    });
    match facts {
        Some(facts) => Json(facts).into_response(),
        None => errors::not_found("access token not found or expired"),
    }
}

async fn refresh_token_info(State(sim): State<SharedSim>, Path(token): Path<String>) -> Response {
    match sim.tokens(|t| {
        t.refresh_grant(&token)
            .map(|g| refresh_facts(&sim.app, &token, g))
    }) {
        Some(facts) => Json(facts).into_response(),
        None => errors::not_found("refresh token not found"),
    }
}

async fn delete_refresh_token(State(sim): State<SharedSim>, Path(token): Path<String>) -> Response {
    if sim.tokens(|t| t.revoke_refresh(&token)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        errors::not_found("refresh token not found")
    }
}

/// Introspection (RFC 7662 style): active tokens with the spec's fields; anything else as
/// `{"active": false}`, the shape the reference expects (UNVERIFIED).
async fn introspect(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = check_introspection(&sim.app, &version, &form) {
        return *refusal;
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let hint = form.get("token_type_hint").map(String::as_str);
    let found = sim.tokens(|t| {
        let access = (hint != Some("refresh_token"))
            .then(|| t.access_grant(&token, sim.now_ms()).ok())
            .flatten()
            .map(|(g, at)| {
                let mut facts = access_facts(&sim, &token, g, at);
                facts["token_use"] = json!("access_token");
                facts
            });
        access.or_else(|| {
            t.refresh_grant(&token).map(|g| {
                let mut facts = refresh_facts(&sim.app, &token, g);
                facts["token_use"] = json!("refresh_token");
                facts["app_id"] = json!(sim.app.app_id);
                facts
            })
        })
    });
    let body = match found {
        Some(mut facts) => {
            facts["active"] = json!(true);
            facts["client_id"] = json!(sim.app.client_id);
            facts
        }
        None => json!({ "active": false }),
    };
    Json(body).into_response()
}

/// Revokes a refresh token; answers 204 whether or not it was live (RFC 7009; HubSpot's
/// success status is UNVERIFIED).
async fn revoke(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = check_introspection(&sim.app, &version, &form) {
        return *refusal;
    }
    let token = form.get("token").cloned().unwrap_or_default();
    sim.tokens(|t| t.revoke_refresh(&token));
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /appinstalls/{version}/external-install` with the portal's token: the app is
/// removed from the account, its tokens stop working and its webhooks stop (reference §1.8).
async fn uninstall(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !introspection_version(&version) {
        return errors::not_found("No such version of the app-uninstall API.");
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(Ok(grant)) = bearer.map(|token| sim.caller(token)) else {
        return errors::unauthorized(
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        );
    };
    if !grant.has_scope("oauth") {
        return errors::api_error(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            "The oauth scope is required to uninstall.",
        );
    }
    match sim.uninstall(grant.portal) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => errors::not_found("no such installation"),
    }
}

/// Counters tests judge the client by, e.g. how many refreshes single-flight let through.
async fn stats(State(sim): State<SharedSim>) -> Json<Value> {
    Json(json!({ "refreshCalls": sim.refresh_calls() }))
}

/// Sets (or with `null`, clears) the decision authorize applies without showing a page.
async fn set_consent(
    State(sim): State<SharedSim>,
    Json(consent): Json<Option<AutoConsent>>,
) -> Json<Option<AutoConsent>> {
    *sim.consent.lock().expect("consent lock") = consent;
    Json(consent)
}
