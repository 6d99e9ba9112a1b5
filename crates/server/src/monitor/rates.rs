//! Rolling success rates from the stored counts: per window (1 h, 24 h, 7 days, 30 days),
//! app-wide or for one portal, for webhook deliveries, for API calls, and combined as
//! HubSpot's "activity" (both together).
//!
//! Webhook attempts include an estimate of those spoke never saw (it was down, or the
//! network failed): an acknowledged event's `attemptNumber` counts its earlier attempts;
//! those spoke answered itself with a failure are its `failed_events`; the rest happened
//! out of its sight. HubSpot counts requests while `attemptNumber` counts per event, and a retried
//! event may come back in another batch, so the unseen event attempts are turned into
//! requests at the portal's mean batch size. The estimate is marked wherever it is shown.

use serde::Serialize;
use store::{ApiCounts, Scope, Statistics, StoreError, WebhookCounts};
use utoipa::ToSchema;

/// The windows, by name and length in minutes.
pub const WINDOWS: [(&str, i64); 4] = [("1h", 60), ("24h", 1_440), ("7d", 10_080), ("30d", 43_200)];

/// Attempts and successes over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub attempts: i64,
    pub successes: i64,
    /// Of `attempts`, those estimated from `attemptNumber` rather than seen.
    pub estimated: i64,
}

impl Window {
    pub fn rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.successes as f64 / self.attempts as f64)
    }

    /// Both windows together (webhooks and API calls: HubSpot's "activity").
    pub fn plus(self, other: Self) -> Self {
        Self {
            attempts: self.attempts + other.attempts,
            successes: self.successes + other.successes,
            estimated: self.estimated + other.estimated,
        }
    }
}

/// A window as operators see it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rate {
    pub attempts: i64,
    pub successes: i64,
    /// 0–1, or `null` without attempts.
    pub rate: Option<f64>,
    /// Of `attempts`, those estimated from `attemptNumber` rather than seen.
    pub estimated_attempts: i64,
}

impl From<Window> for Rate {
    fn from(w: Window) -> Self {
        Self {
            attempts: w.attempts,
            successes: w.successes,
            rate: w.rate(),
            estimated_attempts: w.estimated,
        }
    }
}

/// One kind of activity over each of the [`WINDOWS`].
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Rates {
    #[serde(rename = "1h")]
    pub hour: Rate,
    #[serde(rename = "24h")]
    pub day: Rate,
    #[serde(rename = "7d")]
    pub week: Rate,
    #[serde(rename = "30d")]
    pub month: Rate,
}

/// A count over each of the [`WINDOWS`].
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Counts {
    #[serde(rename = "1h")]
    pub hour: i64,
    #[serde(rename = "24h")]
    pub day: i64,
    #[serde(rename = "7d")]
    pub week: i64,
    #[serde(rename = "30d")]
    pub month: i64,
}

impl From<[i64; 4]> for Counts {
    fn from([hour, day, week, month]: [i64; 4]) -> Self {
        Self {
            hour,
            day,
            week,
            month,
        }
    }
}

impl From<[Window; 4]> for Rates {
    fn from([hour, day, week, month]: [Window; 4]) -> Self {
        Self {
            hour: hour.into(),
            day: day.into(),
            week: week.into(),
            month: month.into(),
        }
    }
}

/// Webhooks, API calls and both combined (HubSpot's "activity"), over each window.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct RatesByKind {
    pub webhooks: Rates,
    pub api: Rates,
    pub combined: Rates,
}

/// Deliveries that failed out of spoke's sight. HubSpot batches a portal's new events
/// together, so unseen first attempts are counted at the portal's mean first-attempt batch
/// size; it retries each event on its own randomised schedule, so an unseen retry counts as
/// a request of its own. That errs towards more misses: the rate shown is, if anything,
/// lower than HubSpot's.
pub fn unseen_deliveries(counts: &WebhookCounts) -> i64 {
    let unseen_first = (counts.revealed_first - counts.failed_first_events).max(0);
    let first = if unseen_first > 0 && counts.first_deliveries > 0 {
        let batch = counts.first_events as f64 / counts.first_deliveries as f64;
        unseen_first as f64 / batch.max(1.0)
    } else {
        unseen_first as f64
    };
    let retries = (counts.revealed_retries - counts.failed_retry_events).max(0);
    first.round() as i64 + retries
}

/// The webhook window of `all` counts (deliveries that named no portal carry no events,
/// so they change no estimate).
pub fn webhook_window(all: &WebhookCounts) -> Window {
    let estimated = unseen_deliveries(all);
    Window {
        attempts: all.attempts + estimated,
        successes: all.successes,
        estimated,
    }
}

pub fn api_window(calls: &ApiCounts) -> Window {
    Window {
        attempts: calls.calls,
        successes: calls.calls - calls.errors,
        estimated: 0,
    }
}

/// Webhook, API and combined windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    pub webhooks: [Window; 4],
    pub api: [Window; 4],
    /// Deliveries refused as unsigned, forged or stale: kept out of the rates.
    pub refused: [i64; 4],
}

impl Windows {
    pub fn combined(&self, index: usize) -> Window {
        self.webhooks[index].plus(self.api[index])
    }

    pub fn rates(&self) -> RatesByKind {
        RatesByKind {
            webhooks: self.webhooks.into(),
            api: self.api.into(),
            combined: std::array::from_fn::<_, 4, _>(|i| self.combined(i)).into(),
        }
    }
}

/// Every window ending at `now_minute`, of one portal or the app.
pub async fn windows(
    store: &dyn Statistics,
    scope: Scope,
    now_minute: i64,
) -> Result<Windows, StoreError> {
    let mut out = Windows::default();
    for (index, (_, minutes)) in WINDOWS.iter().enumerate() {
        let from = now_minute - minutes + 1;
        let webhooks = store.webhook_totals(scope, from).await?;
        out.webhooks[index] = webhook_window(&webhooks);
        out.refused[index] = webhooks.unauthorized;
        out.api[index] = api_window(&store.api_totals(scope, from).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `deliveries` first attempts of `batch` events each, `successes` of them acknowledged.
    fn first_attempts(deliveries: i64, successes: i64, batch: i64) -> WebhookCounts {
        WebhookCounts {
            attempts: deliveries,
            successes,
            first_events: deliveries * batch,
            first_deliveries: deliveries,
            failed_first_events: (deliveries - successes) * batch,
            ..WebhookCounts::default()
        }
    }

    #[test]
    fn attempts_spoke_answered_itself_are_not_counted_twice() {
        // 10 deliveries of 10 events, 2 answered 503; their 20 events came back as two
        // retries, acknowledged, revealing exactly the failures spoke saw.
        let mut seen = first_attempts(10, 8, 10);
        seen.add(&WebhookCounts {
            attempts: 2,
            successes: 2,
            retry_events: 20,
            retry_deliveries: 2,
            revealed_first: 20,
            ..WebhookCounts::default()
        });
        let window = webhook_window(&seen);
        assert_eq!((window.attempts, window.estimated), (12, 0));
        assert_eq!(window.rate(), Some(10.0 / 12.0));
    }

    #[test]
    fn attempts_made_while_spoke_was_down_are_estimated_at_their_batch_size() {
        // 10 first attempts of 10 events seen, all fine; 30 events came back one by one
        // with attemptNumber 2: 3 first attempts (of 10) and 30 retries (of 1) failed unseen.
        let mut seen = first_attempts(10, 10, 10);
        seen.add(&WebhookCounts {
            attempts: 30,
            successes: 30,
            retry_events: 30,
            retry_deliveries: 30,
            revealed_first: 30,
            revealed_retries: 30,
            ..WebhookCounts::default()
        });
        let window = webhook_window(&seen);
        assert_eq!(
            (window.attempts, window.successes, window.estimated),
            (40 + 33, 40, 33)
        );
        assert_eq!(Window::default().rate(), None);
    }
}
