//! `GET /dashboard`: app-wide rates, alerts and charts, and every portal by risk.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;
use store::{PortalId, Scope, StoreError};

use super::format::{
    at_minute, card, percent, query_string, rate_class, refused_card, relative, RateCard,
};
use super::period::{chart_pair, Period, Tab};
use super::render::{render, store_refusal, REFRESH_SECONDS};
use crate::dashboard::access::{App, Operator};
use crate::http::state::AppState;
use crate::monitor::alerts::Alert;
use crate::monitor::api_support::ApiSupport;
use crate::monitor::levels::AlertLevels;
use crate::monitor::rates::windows;
use crate::monitor::standings::{portal_page, PortalQuery, Standing, StateFilter};
use crate::monitor::tally::minute_of;

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    refresh_seconds: u32,
    csrf: String,
    /// Set when the CRM API version spoke calls is near its end of support.
    api_support: Option<ApiSupport>,
    cards: Vec<RateCard>,
    alerts: Vec<AlertLine>,
    periods: Vec<Tab>,
    rate_chart: String,
    latency_chart: String,
    q: String,
    states: Vec<StateOption>,
    rows: Vec<PortalRow>,
    total: usize,
    page: usize,
    pages: usize,
    previous: Option<String>,
    next: Option<String>,
}

struct AlertLine {
    level: &'static str,
    scope: String,
    about: &'static str,
    rate: String,
    estimated: bool,
    since: String,
    crossing: Option<String>,
}

struct StateOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct PortalRow {
    portal_id: PortalId,
    domain: String,
    state: &'static str,
    rate: String,
    rate_class: &'static str,
    webhooks: String,
    api: String,
    trend: &'static str,
    trend_arrow: &'static str,
    latency: String,
    pending: i64,
    dead_letters: i64,
    quarantined: i64,
    token_expires: String,
    risk: u8,
}

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    q: Option<String>,
    state: Option<String>,
    page: Option<usize>,
    period: Option<Period>,
}

pub async fn overview(
    operator: Operator,
    state: App,
    Query(query): Query<OverviewQuery>,
) -> Response {
    match overview_page(&operator, &state, query).await {
        Ok(page) => render(&page),
        Err(error) => store_refusal(error),
    }
}

async fn overview_page(
    operator: &Operator,
    state: &AppState,
    query: OverviewQuery,
) -> Result<OverviewPage, StoreError> {
    let store = state.store.as_ref();
    let levels = state.alerts.levels();
    let now_ms = state.clock.now_ms();
    let alerts = state.held_alerts();
    let rates = windows(store, Scope::App, minute_of(now_ms)).await?;
    let filter = StateFilter::ALL
        .into_iter()
        .find(|f| Some(f.as_str()) == query.state.as_deref());
    let listing = PortalQuery {
        q: query.q.clone(),
        state: filter,
        page: query.page,
    };
    let all = state.standings.all(&state.store, levels, now_ms).await?;
    let found = portal_page(&all, &listing);
    let period = query.period.unwrap_or_default();
    let (rate_chart, latency_chart) = chart_pair(store, Scope::App, period, now_ms).await?;
    let q = query.q.unwrap_or_default();
    let state_value = filter.map_or("", StateFilter::as_str);
    let link = |page: usize, period: &str| {
        format!(
            "/dashboard{}",
            query_string(&[
                ("q", q.clone()),
                ("state", state_value.to_owned()),
                (
                    "page",
                    if page > 1 {
                        page.to_string()
                    } else {
                        String::new()
                    }
                ),
                ("period", period.to_owned()),
            ])
        )
    };
    let period_name = Period::ALL
        .iter()
        .find(|(p, _, _)| *p == period)
        .map_or("day", |(_, value, _)| *value);
    let mut states = vec![StateOption {
        value: "",
        label: "All states",
        selected: filter.is_none(),
    }];
    states.extend(StateFilter::ALL.into_iter().map(|f| StateOption {
        value: f.as_str(),
        label: match f {
            StateFilter::AtRisk => "At risk",
            StateFilter::Installed => "Installed",
            StateFilter::NeedsReauth => "Needs re-authorisation",
            StateFilter::Uninstalled => "Uninstalled",
        },
        selected: filter == Some(f),
    }));
    Ok(OverviewPage {
        refresh_seconds: REFRESH_SECONDS,
        csrf: operator.csrf.clone(),
        api_support: state.api_support().filter(|s| s.ends_soon),
        cards: vec![
            card("Webhooks", rates.webhooks[1], levels),
            card("API calls", rates.api[1], levels),
            card("Combined activity", rates.combined(1), levels),
            refused_card(rates.refused[1]),
        ],
        alerts: alerts.iter().map(alert_line).collect(),
        periods: period.tabs(|value| link(found.page, value)),
        rate_chart,
        latency_chart,
        states,
        rows: found
            .portals
            .iter()
            .map(|s| portal_row(s, levels, now_ms))
            .collect(),
        total: found.total,
        previous: (found.page > 1).then(|| link(found.page - 1, period_name)),
        next: (found.page < found.pages).then(|| link(found.page + 1, period_name)),
        page: found.page,
        pages: found.pages,
        q,
    })
}

fn alert_line(alert: &Alert) -> AlertLine {
    AlertLine {
        level: alert.level.as_str(),
        scope: alert
            .portal
            .map_or_else(|| "app-wide".to_owned(), |p| format!("portal {p}")),
        about: alert.about.as_str(),
        rate: percent(alert.rate),
        estimated: alert.estimated,
        since: at_minute(alert.since_ms),
        crossing: alert.crossing_ms.map(at_minute),
    }
}

fn portal_row(s: &Standing, levels: AlertLevels, now_ms: i64) -> PortalRow {
    PortalRow {
        portal_id: s.portal_id,
        domain: s.hub_domain.clone().unwrap_or_default(),
        state: s.state,
        rate: percent(s.combined.rate),
        rate_class: rate_class(s.combined.rate, levels),
        webhooks: percent(s.webhooks.rate),
        api: percent(s.api.rate),
        trend: s.trend(),
        trend_arrow: match s.trend() {
            "up" => "▲",
            "down" => "▼",
            _ => "–",
        },
        latency: s.latency_ms_avg.map_or_else(
            || "—".to_owned(),
            |avg| format!("{avg:.0} / {} ms", s.latency_ms_max),
        ),
        pending: s.pending,
        dead_letters: s.dead_letters,
        quarantined: s.quarantined,
        token_expires: s
            .token_expires_at
            .map_or_else(|| "no token".to_owned(), |at| relative(at.0, now_ms)),
        risk: s.risk.into(),
    }
}
