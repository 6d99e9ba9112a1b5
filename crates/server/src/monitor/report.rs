//! The monitor's JSON, as the admin API serves it (DESIGN.md, Contracts): rates per window
//! for webhooks, API calls and both combined, the active alerts, and for one portal its
//! per-minute series and recent failures; both with the API calls of the last 30 days by
//! day, endpoint class and status.

use serde_json::{json, Value};
use store::{DailyCalls, Statistics, StoreError, WebhookCounts, MINUTES_PER_DAY};

use super::alerts::Alert;
use super::rates::{unseen_deliveries, windows};
use super::tally::minute_of;

/// Minutes of per-minute series a portal's report carries.
const SERIES_MINUTES: i64 = 60;
/// How far back a portal's recent failures go.
const FAILURES_MINUTES: i64 = 1_440;
/// Days of API calls by endpoint class and status a report carries (HubSpot's certification
/// judges a day's requests).
const CALL_DAYS: i64 = 30;

/// App-wide: `{"webhooks", "api", "combined", "alerts"}`.
pub async fn app_report(
    store: &dyn Statistics,
    alerts: &[Alert],
    now_ms: i64,
) -> Result<Value, StoreError> {
    let mut report = windows(store, None, minute_of(now_ms)).await?.json();
    report.insert("alerts".into(), alerts_json(alerts));
    report.insert(
        "apiCallsByDay".into(),
        daily_calls(store, None, now_ms).await?,
    );
    Ok(Value::Object(report))
}

/// One portal's report: the app-wide shape for its counts and alerts, plus `series` (the
/// last hour, minute by minute) and `recentFailures` (the last day's minutes with any).
pub async fn portal_report(
    store: &dyn Statistics,
    portal: i64,
    alerts: &[Alert],
    now_ms: i64,
) -> Result<Value, StoreError> {
    let now = minute_of(now_ms);
    let mut report = windows(store, Some(portal), now).await?.json();
    let mine: Vec<Alert> = alerts
        .iter()
        .filter(|a| a.portal == Some(portal))
        .cloned()
        .collect();
    report.insert("portalId".into(), json!(portal));
    report.insert("alerts".into(), alerts_json(&mine));
    let api = store.api_series(portal, now - SERIES_MINUTES + 1).await?;
    let day = store
        .webhook_series(portal, now - FAILURES_MINUTES + 1)
        .await?;
    let series: Vec<Value> = day
        .iter()
        .filter(|m| m.minute > now - SERIES_MINUTES)
        .map(|m| {
            let calls = api.iter().find(|a| a.minute == m.minute);
            json!({
                "minute": m.minute * 60_000,
                "webhooks": point(m),
                "apiCalls": calls.map_or(0, |c| c.calls),
                "apiErrors": calls.map_or(0, |c| c.errors),
            })
        })
        .collect();
    report.insert("series".into(), Value::Array(series));
    let failures: Vec<Value> = day
        .iter()
        .filter(|m| m.attempts > m.successes)
        .rev()
        .map(|m| json!({ "minute": m.minute * 60_000, "failures": failures(m) }))
        .collect();
    report.insert("recentFailures".into(), Value::Array(failures));
    report.insert(
        "apiCallsByDay".into(),
        daily_calls(store, Some(portal), now_ms).await?,
    );
    Ok(Value::Object(report))
}

/// `[{"day": "2026-12-01", "endpoint": "crm.batch_read", "status": 200, "calls": 96}, …]`,
/// oldest day first.
async fn daily_calls(
    store: &dyn Statistics,
    portal: Option<i64>,
    now_ms: i64,
) -> Result<Value, StoreError> {
    let today = minute_of(now_ms).div_euclid(MINUTES_PER_DAY);
    let rows = store.daily_calls(portal, today - CALL_DAYS + 1).await?;
    Ok(Value::Array(rows.iter().map(daily_json).collect()))
}

fn daily_json(row: &DailyCalls) -> Value {
    let day =
        chrono::DateTime::from_timestamp(row.day * 86_400, 0).map(|t| t.date_naive().to_string());
    json!({
        "day": day,
        "endpoint": row.endpoint,
        "status": row.status,
        "calls": row.calls,
    })
}

fn point(m: &WebhookCounts) -> Value {
    json!({
        "attempts": m.attempts,
        "successes": m.successes,
        "estimatedMissed": unseen_deliveries(m),
        "failures": failures(m),
        "latencyMsAvg": (m.attempts > 0).then(|| m.latency_ms_sum as f64 / m.attempts as f64),
        "latencyMsMax": m.latency_ms_max,
    })
}

/// Failed deliveries by class, as the receiver answered them.
fn failures(m: &WebhookCounts) -> Value {
    json!({
        "401": m.unauthorized,
        "400": m.bad_request,
        "413": m.too_large,
        "503": m.unavailable,
        "timeout": m.timeouts,
        "other": m.errors,
    })
}

fn alerts_json(alerts: &[Alert]) -> Value {
    Value::Array(alerts.iter().map(Alert::json).collect())
}
