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

use serde_json::{json, Value};
use store::{ApiCounts, Statistics, StoreError, WebhookCounts};

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

    fn plus(self, other: Self) -> Self {
        Self {
            attempts: self.attempts + other.attempts,
            successes: self.successes + other.successes,
            estimated: self.estimated + other.estimated,
        }
    }

    fn json(&self) -> Value {
        json!({
            "attempts": self.attempts,
            "successes": self.successes,
            "rate": self.rate(),
            "estimatedAttempts": self.estimated,
        })
    }
}

/// Deliveries that failed out of spoke's sight, estimated from `attributed` (counts of
/// deliveries whose events were verified, so each carried at least one event).
pub fn unseen_deliveries(attributed: &WebhookCounts) -> i64 {
    let unseen_events = (attributed.revealed - attributed.failed_events).max(0);
    if unseen_events == 0 || attributed.events == 0 || attributed.attempts == 0 {
        return 0;
    }
    let mean_batch = attributed.events as f64 / attributed.attempts as f64;
    (unseen_events as f64 / mean_batch).round() as i64
}

/// The webhook window of `all` counts, of which `unattributed` named no portal.
pub fn webhook_window(all: &WebhookCounts, unattributed: &WebhookCounts) -> Window {
    let mut attributed = *all;
    attributed.attempts -= unattributed.attempts;
    let estimated = unseen_deliveries(&attributed);
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
}

impl Windows {
    pub fn combined(&self, index: usize) -> Window {
        self.webhooks[index].plus(self.api[index])
    }

    /// `{"webhooks": RATES, "api": RATES, "combined": RATES}`.
    pub fn json(&self) -> serde_json::Map<String, Value> {
        let rates = |window: &dyn Fn(usize) -> Window| -> Value {
            let mut by_name = serde_json::Map::new();
            for (index, (name, _)) in WINDOWS.iter().enumerate() {
                by_name.insert((*name).to_owned(), window(index).json());
            }
            Value::Object(by_name)
        };
        let mut out = serde_json::Map::new();
        out.insert("webhooks".into(), rates(&|i| self.webhooks[i]));
        out.insert("api".into(), rates(&|i| self.api[i]));
        out.insert("combined".into(), rates(&|i| self.combined(i)));
        out
    }
}

/// Every window ending at `now_minute`, app-wide (`None`) or for one portal.
pub async fn windows(
    store: &dyn Statistics,
    portal: Option<i64>,
    now_minute: i64,
) -> Result<Windows, StoreError> {
    let mut out = Windows::default();
    for (index, (_, minutes)) in WINDOWS.iter().enumerate() {
        let from = now_minute - minutes + 1;
        let all = store.webhook_totals(portal, from).await?;
        let unattributed = match portal {
            None => store.webhook_totals(Some(0), from).await?,
            Some(0) => all,
            Some(_) => WebhookCounts::default(),
        };
        out.webhooks[index] = webhook_window(&all, &unattributed);
        out.api[index] = api_window(&store.api_totals(portal, from).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        attempts: i64,
        successes: i64,
        events: i64,
        failed_events: i64,
        revealed: i64,
    ) -> WebhookCounts {
        WebhookCounts {
            attempts,
            successes,
            events,
            failed_events,
            revealed,
            ..WebhookCounts::default()
        }
    }

    #[test]
    fn attempts_spoke_answered_itself_are_not_counted_twice() {
        // 10 deliveries of 10 events; 2 answered 503 and retried: their 20 events came
        // back with attemptNumber 1, revealing exactly the failures spoke saw.
        let seen = counts(12, 10, 120, 20, 20);
        let window = webhook_window(&seen, &WebhookCounts::default());
        assert_eq!((window.attempts, window.estimated), (12, 0));
        assert_eq!(window.rate(), Some(10.0 / 12.0));
    }

    #[test]
    fn attempts_made_while_spoke_was_down_are_estimated_at_the_mean_batch() {
        // 10 deliveries of 10 events seen, all fine; 30 of their events carry
        // attemptNumber 1 with no failure seen: about 3 deliveries failed unseen.
        let seen = counts(10, 10, 100, 0, 30);
        let window = webhook_window(&seen, &WebhookCounts::default());
        assert_eq!(
            (window.attempts, window.successes, window.estimated),
            (13, 10, 3)
        );
    }

    #[test]
    fn unattributed_deliveries_count_but_do_not_shrink_the_mean_batch() {
        let all = counts(20, 10, 100, 0, 30);
        let unattributed = counts(10, 0, 0, 0, 0);
        let window = webhook_window(&all, &unattributed);
        assert_eq!((window.attempts, window.estimated), (23, 3));
        assert_eq!(Window::default().rate(), None);
    }
}
