//! Alerts before HubSpot's bar is crossed. Every 30 s the last 24 hours' rates (webhooks,
//! API calls, both combined; app-wide and per portal) are held against a warning level
//! (97% by default) and the threshold (95%); a portal whose refresh token HubSpot refused
//! is flagged as probably uninstalled. An alert fires once, changes level in place, and
//! resolves when its rate recovers; each change goes to the log and, when configured, to
//! a Slack-compatible webhook (`{"text": …}`). With the last hour's pace an alert also
//! projects when its rate will cross the threshold. Every instance evaluates, for its own
//! pages; of those running the workers, the one whose record of a change in the store
//! (`AlertStates`) took announces it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use store::{PortalId, PortalState, Scope, Store, StoreError, WebhookCounts};
use tracing::{debug, info, warn};
use utoipa::ToSchema;

use super::levels::{AlertLevels, Level};
use super::rates::Window;
use super::sums::{PortalSums, Sums, HOUR_MINUTES};
use crate::config::SecretUrl;
use crate::telemetry::Chain;
use crate::timestamp::Timestamp;

/// A portal with fewer attempts in a day raises no rate alert: one failure in three is
/// noise, not a trend.
const MIN_ATTEMPTS: i64 = 20;

/// Refused deliveries in an hour that raise the `refusals` alert, when they also outnumber
/// the deliveries accepted: a few are the internet's background noise.
pub const REFUSALS_ALERT_MIN: i64 = 10;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum About {
    Webhooks,
    Api,
    Combined,
    /// Every call gets `401` and the refresh token was refused.
    ProbablyUninstalled,
    /// More deliveries refused (unsigned, forged, stale) than accepted in the last hour:
    /// someone posting forgeries, or HubSpot signing with a client secret spoke does not
    /// have (rotated?). Its rate is the hour's share accepted.
    Refusals,
}

impl About {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhooks => "webhooks",
            Self::Api => "api",
            Self::Combined => "combined",
            Self::ProbablyUninstalled => "probablyUninstalled",
            Self::Refusals => "refusals",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `None`: app-wide.
    pub portal: Option<PortalId>,
    pub level: Level,
    pub about: About,
    /// The last 24 hours' rate.
    pub rate: Option<f64>,
    /// Whether the rate counts attempts estimated from `attemptNumber`.
    pub estimated: bool,
    pub since_ms: i64,
    /// When the rate will cross the threshold at the last hour's pace; `None` if it will
    /// not (or has).
    pub crossing_ms: Option<i64>,
}

/// An alert as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// `null`: app-wide.
    pub portal_id: Option<PortalId>,
    pub level: Level,
    pub about: About,
    /// The last 24 hours' rate, 0–1.
    pub rate: Option<f64>,
    /// Whether the rate counts attempts estimated from `attemptNumber`.
    pub estimated: bool,
    pub since: Timestamp,
    /// When the rate will cross HubSpot's 95% at the last hour's pace; `null` if it will
    /// not, or already has.
    pub projected_crossing: Option<Timestamp>,
}

impl From<&Alert> for AlertView {
    fn from(alert: &Alert) -> Self {
        Self {
            portal_id: alert.portal,
            level: alert.level,
            about: alert.about,
            rate: alert.rate,
            estimated: alert.estimated,
            since: Timestamp(alert.since_ms),
            projected_crossing: alert.crossing_ms.map(Timestamp),
        }
    }
}

impl Alert {
    fn text(&self, change: Change) -> String {
        let change = change.as_str();
        let scope = self
            .portal
            .map_or_else(|| "app-wide".to_owned(), |p| format!("portal {p}"));
        let rate = self
            .rate
            .map_or_else(String::new, |r| format!(" at {:.2}%", r * 100.0));
        format!(
            "spoke {change}: {} {} {}{rate}",
            self.level.as_str(),
            scope,
            self.about.as_str()
        )
    }
}

/// The refusals alert, if an hour's refused deliveries call for one: critical when the
/// day had accepted deliveries but the hour none (HubSpot's would all be failing, as with
/// a rotated secret), a warning otherwise (strangers posting to a quiet app).
fn refusals(hour: &WebhookCounts, day: &WebhookCounts) -> Option<Finding> {
    let (refused, accepted) = (hour.unauthorized, hour.successes);
    if refused < REFUSALS_ALERT_MIN || refused <= accepted {
        return None;
    }
    Some(Finding {
        portal: None,
        about: About::Refusals,
        level: if accepted == 0 && day.successes > 0 {
            Level::Critical
        } else {
            Level::Warning
        },
        window: Window {
            attempts: refused + accepted,
            successes: accepted,
            estimated: 0,
        },
        crossing: None,
    })
}

/// The rate alert, if any, for a day's window with the last hour's pace.
pub fn judge(
    levels: AlertLevels,
    day: Window,
    hour: Window,
    now_ms: i64,
) -> Option<(Level, Option<i64>)> {
    let level = levels.classify(day.rate()?);
    (level != Level::Ok).then(|| (level, crossing(levels.threshold, day, hour, now_ms)))
}

/// When `day`'s rate reaches `threshold` if the last hour's attempts and failures go on:
/// solving (S + (a − f)·t) / (A + a·t) = threshold for t, per minute.
fn crossing(threshold: f64, day: Window, hour: Window, now_ms: i64) -> Option<i64> {
    let (successes, attempts) = (day.successes as f64, day.attempts as f64);
    let pace = hour.attempts as f64 / HOUR_MINUTES as f64;
    let failing = (hour.attempts - hour.successes) as f64 / HOUR_MINUTES as f64;
    let margin = successes - threshold * attempts;
    let closing = failing - (1.0 - threshold) * pace;
    if margin < 0.0 || closing <= 0.0 {
        return None;
    }
    Some(now_ms + (margin / closing * 60_000.0) as i64)
}

/// What happened to an alert at an evaluation, as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Fired,
    /// Its level changed.
    Changed,
    Resolved,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::Changed => "changed",
            Self::Resolved => "resolved",
        }
    }
}

/// An alert that holds at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Finding {
    portal: Option<PortalId>,
    about: About,
    level: Level,
    window: Window,
    crossing: Option<i64>,
}

/// The active alerts and where changes are announced.
#[derive(Debug)]
pub struct Alerts {
    levels: AlertLevels,
    webhook: Option<SecretUrl>,
    /// Whether this instance records and announces changes, or only keeps the alerts for
    /// its pages (a receiver: the instances running the workers announce).
    announces: bool,
    http: reqwest::Client,
    active: Mutex<BTreeMap<(Option<PortalId>, About), Alert>>,
}

impl Alerts {
    pub fn new(levels: AlertLevels, webhook: Option<SecretUrl>) -> Self {
        Self {
            levels,
            webhook,
            announces: true,
            http: hubspot::outbound::client(Duration::from_secs(10)),
            active: Mutex::default(),
        }
    }

    /// These alerts, kept for this instance's pages but never announced from it.
    pub fn without_announcing(mut self) -> Self {
        self.announces = false;
        self
    }

    pub fn levels(&self) -> AlertLevels {
        self.levels
    }

    /// The alerts of the last evaluation: what the admin API and the dashboard show. Only
    /// [`evaluate`](Self::evaluate), on its schedule, changes them.
    pub fn active(&self) -> Vec<Alert> {
        self.active
            .lock()
            .expect("alerts lock")
            .values()
            .cloned()
            .collect()
    }

    /// Works out which alerts hold now, then fires, updates and resolves. Reading every
    /// portal's day takes seconds at 10,000 portals, so this runs on its own schedule, never
    /// inside a request.
    pub async fn evaluate(
        &self,
        store: &dyn Store,
        sums: &PortalSums,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let found = self.current(store, sums, now_ms).await?;
        let changes = self.apply(found, now_ms);
        if !self.announces {
            return Ok(());
        }
        for (change, alert) in changes {
            let level = (change != Change::Resolved).then(|| alert.level.as_str());
            // Unrecorded (the database is away), it is announced anyway: twice rather than
            // never.
            let first = store
                .record_alert(Scope::from(alert.portal), alert.about.as_str(), level, now_ms)
                .await
                .unwrap_or_else(|error| {
                    warn!(error = %Chain(&error), "alert change not recorded; announcing it anyway");
                    true
                });
            if !first {
                debug!(alert = %alert.text(change), "alert change announced already");
                continue;
            }
            match change {
                Change::Resolved => info!(alert = %alert.text(change), "alert resolved"),
                _ => warn!(alert = %alert.text(change), "alert"),
            }
            self.announce(&alert.text(change)).await;
        }
        Ok(())
    }

    async fn current(
        &self,
        store: &dyn Store,
        sums: &PortalSums,
        now_ms: i64,
    ) -> Result<Vec<Finding>, StoreError> {
        let mut found = Vec::new();
        let mut judge_all = |portal, day: &Sums, hour: &Sums, min: i64| {
            let (day, hour) = (day.windows(), hour.windows());
            for (index, about) in [About::Webhooks, About::Api, About::Combined]
                .into_iter()
                .enumerate()
            {
                if day[index].attempts < min {
                    continue;
                }
                if let Some((level, crossing)) = judge(self.levels, day[index], hour[index], now_ms)
                {
                    found.push(Finding {
                        portal,
                        about,
                        level,
                        window: day[index],
                        crossing,
                    });
                }
            }
        };
        let (day, hour) = Sums::day_and_hour(store, Scope::App, now_ms).await?;
        judge_all(None, &day, &hour, 1);
        for portal in sums.portals() {
            judge_all(
                Some(portal),
                &sums.day(portal),
                &sums.hour(portal),
                MIN_ATTEMPTS,
            );
        }
        found.extend(refusals(&hour.webhooks, &day.webhooks));
        for portal in store.portals().await? {
            if portal.state == PortalState::NeedsReauth {
                found.push(Finding {
                    portal: Some(portal.portal_id),
                    about: About::ProbablyUninstalled,
                    level: Level::Warning,
                    window: Window::default(),
                    crossing: None,
                });
            }
        }
        Ok(found)
    }

    /// Updates the active set; the changes, to announce.
    fn apply(&self, found: Vec<Finding>, now_ms: i64) -> Vec<(Change, Alert)> {
        let mut active = self.active.lock().expect("alerts lock");
        let mut changes = Vec::new();
        let mut holding = BTreeMap::new();
        for Finding {
            portal,
            about,
            level,
            window,
            crossing,
        } in found
        {
            let held = active.remove(&(portal, about));
            let alert = Alert {
                portal,
                level,
                about,
                rate: window.rate(),
                estimated: window.estimated > 0,
                since_ms: held.as_ref().map_or(now_ms, |h| h.since_ms),
                crossing_ms: crossing,
            };
            match &held {
                None => changes.push((Change::Fired, alert.clone())),
                Some(h) if h.level != level => changes.push((Change::Changed, alert.clone())),
                Some(_) => {}
            }
            holding.insert((portal, about), alert);
        }
        for (_, gone) in std::mem::replace(&mut *active, holding) {
            changes.push((Change::Resolved, gone));
        }
        changes
    }

    async fn announce(&self, text: &str) {
        let Some(url) = &self.webhook else { return };
        let sent = self
            .http
            .post(url.expose().clone())
            .json(&json!({ "text": text }))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if let Err(error) = sent {
            warn!(error = %error.without_url(), "the alert webhook refused the alert");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(attempts: i64, successes: i64) -> Window {
        Window {
            attempts,
            successes,
            estimated: 0,
        }
    }

    #[test]
    fn refusals_alert_only_when_they_are_many_and_outnumber_what_was_accepted() {
        let hour = |refused: i64, accepted: i64| WebhookCounts {
            unauthorized: refused,
            successes: accepted,
            attempts: accepted,
            ..WebhookCounts::default()
        };
        let day = hour(0, 500);
        assert_eq!(
            refusals(&hour(REFUSALS_ALERT_MIN - 1, 0), &day),
            None,
            "noise"
        );
        assert_eq!(refusals(&hour(50, 50), &day), None, "busier with HubSpot");
        let forged = refusals(&hour(60, 20), &day).expect("an alert");
        assert_eq!(
            (forged.about, forged.level),
            (About::Refusals, Level::Warning)
        );
        assert_eq!(
            forged.window.rate(),
            Some(0.25),
            "the hour's share accepted"
        );
        let rotated = refusals(&hour(REFUSALS_ALERT_MIN, 0), &day).expect("an alert");
        assert_eq!(
            rotated.level,
            Level::Critical,
            "the day had traffic, the hour none"
        );
        let quiet = refusals(&hour(REFUSALS_ALERT_MIN, 0), &hour(0, 0)).expect("an alert");
        assert_eq!(
            quiet.level,
            Level::Warning,
            "a quiet app is not failing HubSpot"
        );
    }

    #[test]
    fn levels_and_the_projected_crossing() {
        let levels = AlertLevels::default();
        assert_eq!(judge(levels, window(100, 99), window(10, 10), 0), None);
        assert_eq!(
            judge(levels, window(100, 90), window(10, 9), 0),
            Some((Level::Critical, None)),
            "already below: no crossing ahead"
        );
        // 96.0% over the day, the last hour failing at 20%: 1 success of margin over
        // 95%, closing at 0.2 − 0.05 = 0.15 per attempt per minute of pace 1.
        let (level, crossing) = judge(levels, window(1_000, 960), window(60, 48), 0).unwrap();
        assert_eq!(level, Level::Warning);
        let minutes = crossing.unwrap() as f64 / 60_000.0;
        assert!((minutes - 10.0 / 0.15).abs() < 0.01, "{minutes}");
        // Failing no faster than 5%: it never crosses.
        assert_eq!(
            judge(levels, window(1_000, 960), window(60, 57), 0),
            Some((Level::Warning, None))
        );
    }

    #[test]
    fn an_alert_fires_once_changes_level_and_resolves() {
        let alerts = Alerts::new(AlertLevels::default(), None);
        let found = |level| {
            vec![Finding {
                portal: Some(PortalId(7)),
                about: About::Webhooks,
                level,
                window: window(100, 96),
                crossing: None,
            }]
        };
        let fired = alerts.apply(found(Level::Warning), 1_000);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0, Change::Fired);
        assert!(
            alerts.apply(found(Level::Warning), 2_000).is_empty(),
            "deduplicated"
        );
        let changed = alerts.apply(found(Level::Critical), 3_000);
        assert_eq!(
            (changed[0].0, changed[0].1.since_ms),
            (Change::Changed, 1_000)
        );
        let resolved = alerts.apply(Vec::new(), 4_000);
        assert_eq!(resolved[0].0, Change::Resolved);
        assert!(alerts.active().is_empty());
    }
}
