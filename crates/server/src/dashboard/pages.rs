//! The dashboard's pages and actions. Each handler gathers what its page shows through the
//! functions the admin API uses, turns it into display strings (view models below), and
//! renders a template; actions check the CSRF token, act, and send the browser back.

use askama::Template;
use axum::extract::{Form, Path, Query};
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{AppendHeaders, Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use store::{Replay, Store, StoreError, APP_WIDE};

use super::charts::{self, Bucket};
use super::session::{LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS};
use super::{cookie, App, Operator, Unsigned};
use crate::http::state::AppState;
use crate::monitor::alerts::Alert;
use crate::monitor::levels::AlertLevels;
use crate::monitor::rates::{windows, Window, WINDOWS};
use crate::monitor::standings::{portal_page, PortalQuery, Standing, StateFilter};
use crate::monitor::tally::minute_of;
use crate::oauth::removal;
use crate::ops::dead_letters::replay_dead;
use crate::ops::inspect::portal_view;
use crate::workers::sinks::SinkName;

/// Pages that show live figures reload themselves this often.
const REFRESH_SECONDS: u32 = 10;

// ---- templates -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage<'a> {
    refresh_seconds: u32,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "dashboard/refusal.html")]
struct RefusalPage<'a> {
    refresh_seconds: u32,
    status: String,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    refresh_seconds: u32,
    csrf: String,
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

#[derive(Template)]
#[template(path = "dashboard/portal.html")]
struct PortalPage {
    refresh_seconds: u32,
    csrf: String,
    portal_id: i64,
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
    audit: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/erase.html")]
struct ErasePage<'a> {
    refresh_seconds: u32,
    csrf: &'a str,
    portal_id: i64,
    error: Option<&'a str>,
}

// ---- view models -----------------------------------------------------------------------

struct RateCard {
    name: &'static str,
    rate: String,
    /// `ok`, `warn`, `crit`, or empty without attempts.
    class: &'static str,
    detail: String,
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

struct Tab {
    name: &'static str,
    href: String,
    current: bool,
}

struct StateOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct PortalRow {
    portal_id: i64,
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

// ---- formatting ------------------------------------------------------------------------

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.2}%", r * 100.0))
}

/// The rate's level as a CSS class (`ok`, `warning`, `critical`); none without a rate.
fn rate_class(rate: Option<f64>, levels: AlertLevels) -> &'static str {
    rate.map_or("", |r| levels.classify(r).as_str())
}

fn card(name: &'static str, window: Window, levels: AlertLevels) -> RateCard {
    let estimated = if window.estimated > 0 {
        format!(" · {} estimated", window.estimated)
    } else {
        String::new()
    };
    RateCard {
        name,
        rate: percent(window.rate()),
        class: rate_class(window.rate(), levels),
        detail: format!(
            "{} attempt{}{estimated}",
            window.attempts,
            if window.attempts == 1 { "" } else { "s" }
        ),
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// `in 25 min`, `3 h ago`: how far `at_ms` is from `now_ms`.
fn relative(at_ms: i64, now_ms: i64) -> String {
    let minutes = (at_ms - now_ms) / 60_000;
    let span = |m: i64| {
        if m.abs() >= 120 {
            format!("{} h", m.abs() / 60)
        } else {
            format!("{} min", m.abs())
        }
    };
    if minutes >= 0 {
        format!("in {}", span(minutes))
    } else {
        format!("{} ago", span(minutes))
    }
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
        since: iso(alert.since_ms),
        crossing: alert.crossing_ms.map(iso),
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
            .map_or_else(|| "no token".to_owned(), |at| relative(at, now_ms)),
        risk: s.risk.into(),
    }
}

/// `?a=b&c=d` of the non-empty pairs.
fn query_string(pairs: &[(&str, String)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() {
        query
    } else {
        format!("?{query}")
    }
}

// ---- charts ----------------------------------------------------------------------------

/// The span a page's charts cover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Period {
    /// The last hour, minute by minute.
    Hour,
    /// The last 24 hours, hour by hour.
    #[default]
    Day,
    /// The last 30 days, day by day.
    Month,
}

impl Period {
    const ALL: [(Self, &'static str, &'static str); 3] = [
        (Self::Hour, "hour", "Last hour"),
        (Self::Day, "day", "Last 24 hours"),
        (Self::Month, "month", "Last 30 days"),
    ];

    /// Bucket length in minutes, and how many.
    fn buckets(self) -> (i64, i64) {
        match self {
            Self::Hour => (1, 60),
            Self::Day => (60, 24),
            Self::Month => (1_440, 30),
        }
    }

    fn tabs(self, href: impl Fn(&'static str) -> String) -> Vec<Tab> {
        Self::ALL
            .into_iter()
            .map(|(period, value, name)| Tab {
                name,
                href: href(value),
                current: period == self,
            })
            .collect()
    }
}

/// The success-rate and latency charts of `portal` (or [`APP_WIDE`]) over `period`.
async fn chart_pair(
    store: &dyn Store,
    portal: i64,
    period: Period,
    now_ms: i64,
) -> Result<(String, String), StoreError> {
    let now = minute_of(now_ms);
    let (unit, count) = period.buckets();
    let from = (now.div_euclid(unit) - count + 1) * unit;
    let hooks = store.webhook_series(portal, from).await?;
    let api = store.api_series(portal, from).await?;
    let buckets: Vec<Bucket> = charts::buckets(&hooks, &api, now, unit, count);
    Ok((
        charts::success_rate(&buckets, "success rate"),
        charts::latency(&buckets, "acknowledgement latency"),
    ))
}

// ---- pages -----------------------------------------------------------------------------

/// A short page saying why a request was refused.
pub(super) fn refusal(status: StatusCode, message: &str) -> Response {
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

fn render(page: &impl Template) -> Response {
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

fn store_refusal(error: StoreError) -> Response {
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

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
}

pub async fn login_form(Unsigned(dashboard): Unsigned, state: App) -> Response {
    login_page(&dashboard, &state, StatusCode::OK, None)
}

fn login_page(
    dashboard: &super::Dashboard,
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let (nonce, csrf) = dashboard.sessions.login_form(state.clock.now_ms() / 1_000);
    let page = LoginPage {
        refresh_seconds: 0,
        csrf: &csrf,
        error,
    };
    let cookie = dashboard.cookie(LOGIN_COOKIE, &nonce, super::session::LOGIN_SECONDS);
    (status, [(SET_COOKIE, cookie)], render(&page)).into_response()
}

pub async fn login(
    Unsigned(dashboard): Unsigned,
    state: App,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now_s = state.clock.now_ms() / 1_000;
    let form_ok = match (cookie(&headers, LOGIN_COOKIE), form.csrf.as_deref()) {
        (Some(nonce), Some(csrf)) => dashboard.sessions.login_ok(nonce, csrf, now_s),
        _ => false,
    };
    if !form_ok {
        return refusal(
            StatusCode::FORBIDDEN,
            "This sign-in form's CSRF token is missing or expired: open the sign-in page again.",
        );
    }
    let token_ok = match (&state.operator_token, form.token.as_deref()) {
        (Some(token), Some(presented)) => token.matches(presented),
        _ => false,
    };
    if !token_ok {
        tracing::warn!("dashboard: a sign-in with a wrong operator token");
        return login_page(
            &dashboard,
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That is not the operator token."),
        );
    }
    let session = dashboard.cookie(
        SESSION_COOKIE,
        &dashboard.sessions.open(now_s),
        SESSION_SECONDS,
    );
    let spent = dashboard.cookie(LOGIN_COOKIE, "", 0);
    (
        AppendHeaders([(SET_COOKIE, session), (SET_COOKIE, spent)]),
        Redirect::to("/dashboard"),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
    /// A sink dead letter's sink (empty: the hydrator's).
    sink: Option<String>,
    /// The erase confirmation: the portal id, typed.
    confirm: Option<String>,
}

pub async fn logout(operator: Operator, Form(form): Form<CsrfForm>) -> Response {
    if let Err(refused) = operator.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
    let cleared = operator.dashboard.cookie(SESSION_COOKIE, "", 0);
    ([(SET_COOKIE, cleared)], Redirect::to("/dashboard/login")).into_response()
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
    let rates = windows(store, None, minute_of(now_ms)).await?;
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
    let (rate_chart, latency_chart) = chart_pair(store, APP_WIDE, period, now_ms).await?;
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
        cards: vec![
            card("Webhooks", rates.webhooks[1], levels),
            card("API calls", rates.api[1], levels),
            card("Combined activity", rates.combined(1), levels),
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

#[derive(Debug, Default, Deserialize)]
pub struct PortalPageQuery {
    period: Option<Period>,
    replayed: Option<u64>,
    uninstalled: Option<u8>,
}

pub async fn portal(
    operator: Operator,
    state: App,
    Path(portal_id): Path<i64>,
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
    portal_id: i64,
    query: PortalPageQuery,
) -> Result<Option<PortalPage>, StoreError> {
    let store = state.store.as_ref();
    let levels = state.alerts.levels();
    let now_ms = state.clock.now_ms();
    let Some(view) = portal_view(store, levels, portal_id, now_ms).await? else {
        return Ok(None);
    };
    let now = minute_of(now_ms);
    let rates = windows(store, Some(portal_id), now).await?;
    let period = query.period.unwrap_or_default();
    let (rate_chart, latency_chart) = chart_pair(store, portal_id, period, now_ms).await?;
    let p = &view.portal;
    let facts = vec![
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
        ("Installed at", iso(p.installed_at)),
        ("Last change", iso(p.updated_at)),
        ("Scopes", p.scopes.join(" ")),
        (
            "Access token",
            p.access_expires_at.map_or_else(
                || "none held".into(),
                |at| format!("expires {} ({})", relative(at, now_ms), iso(at)),
            ),
        ),
        (
            "Re-authorisation",
            p.reauth_reason
                .clone()
                .unwrap_or_else(|| "not needed".into()),
        ),
    ];
    let windows = [
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
    .collect();
    let mut dead_letters: Vec<DeadLetterRow> = view
        .dead
        .events
        .iter()
        .map(|e| DeadLetterRow {
            key: format!("event-{}", e.id),
            id: e.id,
            place: "hydration".into(),
            what: format!("{} of object {}", e.subscription_type, e.object_id),
            attempts: e.attempts,
            error: e.last_error.clone().unwrap_or_default(),
            sink: String::new(),
        })
        .collect();
    dead_letters.extend(view.dead.deliveries.iter().map(|d| DeadLetterRow {
        key: format!("{}-{}", d.sink, d.id),
        id: d.id,
        place: format!("sink {}", d.sink),
        what: format!("{} {} ({})", d.object_type, d.object_id, d.record_state),
        attempts: d.attempts,
        error: d.last_error.clone().unwrap_or_default(),
        sink: d.sink.clone(),
    }));
    let failures = store
        .webhook_series(portal_id, now - 1_439)
        .await?
        .iter()
        .filter(|m| m.attempts > m.successes)
        .rev()
        .map(|m| {
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
            (iso(m.minute * 60_000), text.join(" · "))
        })
        .collect();
    let notice = match (query.replayed, query.uninstalled) {
        (Some(n), _) => Some(format!("{n} dead letters put back in the queue.")),
        (_, Some(_)) => {
            Some("The app was uninstalled: tokens revoked at HubSpot and erased.".into())
        }
        _ => None,
    };
    Ok(Some(PortalPage {
        refresh_seconds: REFRESH_SECONDS,
        csrf: operator.csrf.clone(),
        portal_id,
        state: view.standing.state,
        notice,
        cards: vec![
            card("Webhooks, 24 h", rates.webhooks[1], levels),
            card("API calls, 24 h", rates.api[1], levels),
            card("Combined, 24 h", rates.combined(1), levels),
        ],
        facts,
        window_names: WINDOWS.iter().map(|(name, _)| *name).collect(),
        windows,
        periods: period.tabs(|value| format!("/dashboard/portals/{portal_id}?period={value}")),
        rate_chart,
        latency_chart,
        dead_letters,
        failures,
        quarantined: view.quarantined,
        audit: view
            .audit
            .iter()
            .rev()
            .map(|a| {
                (
                    iso(a.at),
                    a.action.clone(),
                    a.actor.clone(),
                    a.detail.clone(),
                )
            })
            .collect(),
    }))
}

fn back_to(portal_id: i64, query: &str) -> Response {
    Redirect::to(&format!("/dashboard/portals/{portal_id}{query}")).into_response()
}

pub async fn replay_one(
    operator: Operator,
    state: App,
    Path((portal_id, id)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
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

pub async fn replay_all(
    operator: Operator,
    state: App,
    Path(portal_id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
    match replay_dead(state.store.as_ref(), Replay::Portal(portal_id), None).await {
        Ok(n) => back_to(portal_id, &format!("?replayed={n}")),
        Err(error) => store_refusal(error),
    }
}

pub async fn uninstall(
    operator: Operator,
    state: App,
    Path(portal_id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
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

pub async fn erase_form(operator: Operator, Path(portal_id): Path<i64>) -> Response {
    render(&ErasePage {
        refresh_seconds: 0,
        csrf: &operator.csrf,
        portal_id,
        error: None,
    })
}

pub async fn erase(
    operator: Operator,
    state: App,
    Path(portal_id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = operator.check_csrf(form.csrf.as_deref()) {
        return refused.into_response();
    }
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
