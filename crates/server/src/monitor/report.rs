//! The monitor's reports, as the admin API serves them (DESIGN.md, Contracts): rates per window
//! for webhooks, API calls and both combined, the active alerts, and for one portal its
//! per-minute series and recent failures; both with the API calls of the last 30 days by
//! day, endpoint class and status.

use serde::Serialize;
use store::{DailyCalls, PortalId, Scope, Statistics, StoreError, WebhookCounts, MINUTES_PER_DAY};
use utoipa::ToSchema;

use super::alerts::{Alert, AlertView};
use super::rates::{unseen_deliveries, windows, Counts, RatesByKind};
use super::tally::minute_of;
use crate::timestamp::Timestamp;

/// Minutes of per-minute series a portal's report carries.
const SERIES_MINUTES: i64 = 60;
/// How far back a portal's recent failures go.
const FAILURES_MINUTES: i64 = 1_440;
/// Days of API calls by endpoint class and status a report carries (HubSpot's certification
/// judges a day's requests).
const CALL_DAYS: i64 = 30;

/// The app-wide report: `GET /api/v1/monitor`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    #[serde(flatten)]
    pub rates: RatesByKind,
    /// Deliveries refused as unsigned, forged or stale, per window: anyone can send them,
    /// so they are kept out of the rates (a spike raises the `refusals` alert).
    pub refused: Counts,
    pub alerts: Vec<AlertView>,
    /// The last 30 days' API calls by day, endpoint class and status, oldest day first.
    pub api_calls_by_day: Vec<DailyCallsView>,
}

/// One portal's report: `GET /api/v1/portals/{id}/monitor`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalReport {
    pub portal_id: PortalId,
    #[serde(flatten)]
    pub rates: RatesByKind,
    pub alerts: Vec<AlertView>,
    /// The last hour, minute by minute.
    pub series: Vec<MinutePoint>,
    /// The last day's minutes with any failed delivery, newest first.
    pub recent_failures: Vec<FailedMinute>,
    pub api_calls_by_day: Vec<DailyCallsView>,
}

/// A day's API calls of one endpoint class and status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyCallsView {
    /// `2026-12-01` (UTC).
    pub day: Option<String>,
    /// `crm.batch_read@2026-03`, `crm.properties@2026-03`, …
    pub endpoint: String,
    pub status: i64,
    pub calls: i64,
}

/// One minute of a portal's series.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinutePoint {
    /// The minute's start.
    pub minute: Timestamp,
    pub webhooks: WebhookPoint,
    pub api_calls: i64,
    pub api_errors: i64,
}

/// One minute's webhook deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPoint {
    pub attempts: i64,
    pub successes: i64,
    /// Deliveries that failed out of spoke's sight, estimated from `attemptNumber`.
    pub estimated_missed: i64,
    pub failures: Failures,
    pub latency_ms_avg: Option<f64>,
    pub latency_ms_max: i64,
}

/// A minute with failed deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedMinute {
    /// The minute's start.
    pub minute: Timestamp,
    pub failures: Failures,
}

/// Failed deliveries by class, as the receiver answered them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Failures {
    #[serde(rename = "401")]
    pub unauthorized: i64,
    #[serde(rename = "400")]
    pub bad_request: i64,
    #[serde(rename = "413")]
    pub too_large: i64,
    #[serde(rename = "503")]
    pub unavailable: i64,
    /// Answered after HubSpot's 5 s.
    pub timeout: i64,
    pub other: i64,
}

impl From<&WebhookCounts> for Failures {
    fn from(m: &WebhookCounts) -> Self {
        Self {
            unauthorized: m.unauthorized,
            bad_request: m.bad_request,
            too_large: m.too_large,
            unavailable: m.unavailable,
            timeout: m.timeouts,
            other: m.errors,
        }
    }
}

impl From<&WebhookCounts> for WebhookPoint {
    fn from(m: &WebhookCounts) -> Self {
        Self {
            attempts: m.attempts,
            successes: m.successes,
            estimated_missed: unseen_deliveries(m),
            failures: m.into(),
            latency_ms_avg: (m.attempts > 0).then(|| m.latency_ms_sum as f64 / m.attempts as f64),
            latency_ms_max: m.latency_ms_max,
        }
    }
}

impl From<&DailyCalls> for DailyCallsView {
    fn from(row: &DailyCalls) -> Self {
        Self {
            day: chrono::DateTime::from_timestamp(row.day * 86_400, 0)
                .map(|t| t.date_naive().to_string()),
            endpoint: row.endpoint.clone(),
            status: i64::from(row.status),
            calls: row.calls,
        }
    }
}

fn views(alerts: &[Alert]) -> Vec<AlertView> {
    alerts.iter().map(AlertView::from).collect()
}

/// The app-wide report.
pub async fn app_report(
    store: &dyn Statistics,
    alerts: &[Alert],
    now_ms: i64,
) -> Result<AppReport, StoreError> {
    let windows = windows(store, Scope::App, minute_of(now_ms)).await?;
    Ok(AppReport {
        rates: windows.rates(),
        refused: windows.refused.into(),
        alerts: views(alerts),
        api_calls_by_day: daily_calls(store, Scope::App, now_ms).await?,
    })
}

/// One portal's report: the app-wide shape for its counts and alerts, plus its series and
/// recent failures.
pub async fn portal_report(
    store: &dyn Statistics,
    portal: PortalId,
    alerts: &[Alert],
    now_ms: i64,
) -> Result<PortalReport, StoreError> {
    let now = minute_of(now_ms);
    let mine: Vec<Alert> = alerts
        .iter()
        .filter(|a| a.portal == Some(portal))
        .cloned()
        .collect();
    let api = store
        .api_series(Scope::Portal(portal), now - SERIES_MINUTES + 1)
        .await?;
    let day = store
        .webhook_series(Scope::Portal(portal), now - FAILURES_MINUTES + 1)
        .await?;
    let series = day
        .iter()
        .filter(|m| m.minute > now - SERIES_MINUTES)
        .map(|m| {
            let calls = api.iter().find(|a| a.minute == m.minute);
            MinutePoint {
                minute: Timestamp(m.minute * 60_000),
                webhooks: m.into(),
                api_calls: calls.map_or(0, |c| c.calls),
                api_errors: calls.map_or(0, |c| c.errors),
            }
        })
        .collect();
    let recent_failures = day
        .iter()
        .filter(|m| m.attempts > m.successes)
        .rev()
        .map(|m| FailedMinute {
            minute: Timestamp(m.minute * 60_000),
            failures: m.into(),
        })
        .collect();
    Ok(PortalReport {
        portal_id: portal,
        rates: windows(store, Scope::Portal(portal), now).await?.rates(),
        alerts: views(&mine),
        series,
        recent_failures,
        api_calls_by_day: daily_calls(store, Scope::Portal(portal), now_ms).await?,
    })
}

/// The last [`CALL_DAYS`] days' API calls, oldest day first.
async fn daily_calls(
    store: &dyn Statistics,
    scope: Scope,
    now_ms: i64,
) -> Result<Vec<DailyCallsView>, StoreError> {
    let today = minute_of(now_ms).div_euclid(MINUTES_PER_DAY);
    let rows = store.daily_calls(scope, today - CALL_DAYS + 1).await?;
    Ok(rows.iter().map(DailyCallsView::from).collect())
}
