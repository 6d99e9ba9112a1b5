//! `GET /dashboard/portals/{id}`: one portal's install, rates, charts, dead letters,
//! failures, mirror, backfill, drift report, quarantine and audit trail.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::{Portal, PortalId, Scope, StoreError, WebhookCounts};

use super::format::{at_minute, card, percent, relative, RateCard};
use super::period::{chart_pair, Period, Tab};
use super::render::{refusal, render, store_refusal, REFRESH_SECONDS};
use crate::dashboard::access::{App, Operator};
use crate::http::state::AppState;
use crate::monitor::rates::{windows, Windows, WINDOWS};
use crate::monitor::tally::minute_of;
use crate::ops::dead_letters::DeadLetters;
use crate::ops::inspect::portal_view;
use crate::ops::sync::{report as sync_report, BackfillReport, ReconciliationReport};
use crate::workers::hydrator::properties::TrackedProperties;

#[derive(Template)]
#[template(path = "dashboard/portal.html")]
struct PortalPage {
    refresh_seconds: u32,
    csrf: String,
    portal_id: PortalId,
    state: &'static str,
    notice: Option<String>,
    cards: Vec<RateCard>,
    facts: Vec<(&'static str, String)>,
    window_names: Vec<&'static str>,
    windows: Vec<WindowLine>,
    periods: Vec<Tab>,
    rate_chart: String,
    latency_chart: String,
    dead_letters: Vec<DeadLetterRow>,
    failures: Vec<(String, String)>,
    quarantined: Vec<store::SetAsideEvent>,
    records: Vec<store::RecordsHeld>,
    unhandled: Vec<store::EventsKept>,
    /// Per hydrated type, what is read: `(type, properties)`.
    properties: Vec<(String, String)>,
    /// The latest backfill, if the portal had one.
    backfill: Option<BackfillReport>,
    /// What the last reconciliation found, once one has run.
    reconciliation: Option<ReconciliationReport>,
    audit: Vec<(String, String, String, String)>,
}

struct WindowLine {
    name: &'static str,
    cells: Vec<String>,
}

struct DeadLetterRow {
    key: String,
    id: i64,
    place: String,
    what: String,
    attempts: i32,
    error: String,
    /// Empty for the hydrator's, else the sink's name.
    sink: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PortalPageQuery {
    period: Option<Period>,
    replayed: Option<u64>,
    uninstalled: Option<u8>,
    /// What a sync request did: `started`, `running`, `reconcile`, `reconciling`.
    sync: Option<String>,
}

pub async fn portal(
    operator: Operator,
    state: App,
    Path(portal_id): Path<PortalId>,
    Query(query): Query<PortalPageQuery>,
) -> Response {
    match portal_page_of(&operator, &state, portal_id, query).await {
        Ok(Some(page)) => render(&page),
        Ok(None) => refusal(StatusCode::NOT_FOUND, "spoke does not know this portal."),
        Err(error) => store_refusal(error),
    }
}

async fn portal_page_of(
    operator: &Operator,
    state: &AppState,
    portal_id: PortalId,
    query: PortalPageQuery,
) -> Result<Option<PortalPage>, StoreError> {
    let store = state.store.as_ref();
    let levels = state.alerts.levels();
    let now_ms = state.clock.now_ms();
    let hydrator = state.hydrator.as_deref();
    let Some(view) = portal_view(store, hydrator, levels, portal_id, now_ms).await? else {
        return Ok(None);
    };
    let now = minute_of(now_ms);
    let rates = windows(store, Scope::Portal(portal_id), now).await?;
    let period = query.period.unwrap_or_default();
    let (rate_chart, latency_chart) =
        chart_pair(store, Scope::Portal(portal_id), period, now_ms).await?;
    let failures = store
        .webhook_series(Scope::Portal(portal_id), now - 1_439)
        .await?;
    let sync = sync_report(store, portal_id, now_ms).await?;
    let (backfill, reconciliation) = sync.map_or((None, None), |s| (s.backfill, s.reconciliation));
    Ok(Some(PortalPage {
        refresh_seconds: REFRESH_SECONDS,
        csrf: operator.csrf.clone(),
        portal_id,
        state: view.standing.state,
        notice: notice(&query),
        cards: vec![
            card("Webhooks, 24 h", rates.webhooks[1], levels),
            card("API calls, 24 h", rates.api[1], levels),
            card("Combined, 24 h", rates.combined(1), levels),
        ],
        facts: facts(&view.portal, now_ms),
        window_names: WINDOWS.iter().map(|(name, _)| *name).collect(),
        windows: window_lines(&rates),
        periods: period.tabs(|value| format!("/dashboard/portals/{portal_id}?period={value}")),
        rate_chart,
        latency_chart,
        dead_letters: dead_letter_rows(&view.dead),
        failures: failures
            .iter()
            .filter(|m| m.attempts > m.successes)
            .rev()
            .map(failure_line)
            .collect(),
        audit: view
            .audit
            .iter()
            .rev()
            .map(|a| {
                (
                    at_minute(a.at),
                    a.action.clone(),
                    a.actor.clone(),
                    a.detail.clone(),
                )
            })
            .collect(),
        quarantined: view.quarantined,
        properties: view.properties.iter().map(properties_line).collect(),
        records: view.records,
        unhandled: view.unhandled,
        backfill,
        reconciliation,
    }))
}

/// What is read of a type: every property (as many as the portal's list held here has), or
/// the configured ones.
fn properties_line(tracked: &TrackedProperties) -> (String, String) {
    let what = match (tracked.every, &tracked.properties) {
        (true, Some(list)) => format!("every property ({} listed)", list.len()),
        (true, None) => "every property (not listed yet)".to_owned(),
        (false, list) => list.as_deref().unwrap_or_default().join(", "),
    };
    (tracked.object_type.clone(), what)
}

/// What an action that sent the browser back here did.
fn notice(query: &PortalPageQuery) -> Option<String> {
    match (query.replayed, query.uninstalled, query.sync.as_deref()) {
        (Some(n), _, _) => Some(format!("{n} dead letters put back in the queue.")),
        (_, Some(_), _) => {
            Some("The app was uninstalled: tokens revoked at HubSpot and erased.".into())
        }
        (_, _, Some("started")) => Some("Backfill asked for: a worker reads it now.".into()),
        (_, _, Some("running")) => {
            Some("A backfill is already pending or running; it goes on.".into())
        }
        (_, _, Some("reconcile")) => Some("Reconciliation due now: a worker runs it.".into()),
        (_, _, Some(_)) => Some("A reconciliation is running; it goes on.".into()),
        _ => None,
    }
}

/// The install and token facts, as lines of a table (never a token).
fn facts(p: &Portal, now_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        (
            "Hub domain",
            p.hub_domain.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "App id",
            p.app_id.map_or_else(|| "—".into(), |a| a.to_string()),
        ),
        (
            "Installed by",
            p.installer_email.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Installed at", at_minute(p.installed_at)),
        ("Last change", at_minute(p.updated_at)),
        ("Scopes", p.scopes.join(" ")),
        (
            "Access token",
            p.access_expires_at.map_or_else(
                || "none held".into(),
                |at| format!("expires {} ({})", relative(at, now_ms), at_minute(at)),
            ),
        ),
        (
            "Re-authorisation",
            p.reauth_reason
                .clone()
                .unwrap_or_else(|| "not needed".into()),
        ),
    ]
}

/// Each kind of activity over each window: `rate of attempts`.
fn window_lines(rates: &Windows) -> Vec<WindowLine> {
    [
        ("Webhooks", rates.webhooks),
        ("API calls", rates.api),
        ("Combined", [0, 1, 2, 3].map(|i| rates.combined(i))),
    ]
    .into_iter()
    .map(|(name, line)| WindowLine {
        name,
        cells: line
            .iter()
            .map(|w| format!("{} of {}", percent(w.rate()), w.attempts))
            .collect(),
    })
    .collect()
}

/// The hydrator's dead letters, then the sinks'.
fn dead_letter_rows(dead: &DeadLetters) -> Vec<DeadLetterRow> {
    let events = dead.events.iter().map(|e| DeadLetterRow {
        key: format!("event-{}", e.id),
        id: e.id,
        place: "hydration".into(),
        what: format!("{} of object {}", e.subscription_type, e.object_id),
        attempts: e.attempts,
        error: e.last_error.clone().unwrap_or_default(),
        sink: String::new(),
    });
    let deliveries = dead.deliveries.iter().map(|d| DeadLetterRow {
        key: format!("{}-{}", d.sink, d.id),
        id: d.id,
        place: format!("sink {}", d.sink),
        what: format!("{} {} ({})", d.object_type, d.object_id, d.record_state),
        attempts: d.attempts,
        error: d.last_error.clone().unwrap_or_default(),
        sink: d.sink.clone(),
    });
    events.chain(deliveries).collect()
}

/// A minute with failed deliveries: when, and how many of each class.
fn failure_line(m: &WebhookCounts) -> (String, String) {
    let classes = [
        ("401", m.unauthorized),
        ("400", m.bad_request),
        ("413", m.too_large),
        ("503", m.unavailable),
        ("slower than 5 s", m.timeouts),
        ("other", m.errors),
    ];
    let text: Vec<String> = classes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(class, n)| format!("{class}: {n}"))
        .collect();
    (at_minute(m.minute * 60_000), text.join(" · "))
}
