//! Counting in memory, flushing in batches. Each webhook delivery and each API call adds
//! to its (portal, minute) counts under a lock held for a few additions (an API call also
//! to its portal's day, by endpoint class and status); a flush every few seconds (5 s by
//! default) adds everything gathered to the store in one transaction, and only the flush
//! writes: reads show the store. A crash loses at most one flush interval of counts; a
//! failed flush keeps its counts for the next one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hubspot::time::Clock;
use store::{
    ApiCounts, DailyCalls, PortalId, Scope, Statistics, StoreError, WebhookCounts, MINUTES_PER_DAY,
};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::telemetry::Chain;

/// HubSpot counts an answer slower than this as a failure.
pub const HUBSPOT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a delivery was answered, as HubSpot counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `2xx` within HubSpot's timeout.
    Success,
    Unauthorized,
    BadRequest,
    TooLarge,
    Unavailable,
    /// `2xx`, but after HubSpot's timeout.
    Timeout,
    Error,
}

impl Answer {
    /// The answer of a status sent after `took`.
    pub fn of(status: u16, took: Duration) -> Self {
        match status {
            200..=299 if took > HUBSPOT_TIMEOUT => Self::Timeout,
            200..=299 => Self::Success,
            401 => Self::Unauthorized,
            400 => Self::BadRequest,
            413 => Self::TooLarge,
            503 => Self::Unavailable,
            _ => Self::Error,
        }
    }

    /// Every answer, in the order [`Answer::label`] names them.
    pub const ALL: [Self; 7] = [
        Self::Success,
        Self::Unauthorized,
        Self::BadRequest,
        Self::TooLarge,
        Self::Unavailable,
        Self::Timeout,
        Self::Error,
    ];

    /// The `outcome` label of `spoke_webhook_deliveries`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "ok",
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
            Self::Timeout => "slow",
            Self::Error => "error",
        }
    }
}

/// What a delivery's verified events say about one portal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortalEvents {
    pub portal_id: PortalId,
    /// Events at their first attempt (`attemptNumber` 0).
    pub first: u32,
    /// Events at a retry, and the sum of their `attemptNumber - 1` (their earlier retries).
    pub retried: u32,
    pub earlier_retries: u64,
}

/// The counts not yet flushed.
#[derive(Debug)]
pub struct Tally {
    clock: Clock,
    /// Off (`SPOKE_MONITOR=off`): nothing is counted.
    counting: bool,
    webhooks: Mutex<HashMap<(Scope, i64), WebhookCounts>>,
    api: Mutex<ApiTally>,
}

/// API calls not yet flushed: per (portal, minute), and per (portal, day, endpoint class,
/// status).
#[derive(Debug, Default)]
struct ApiTally {
    minutes: HashMap<(Scope, i64), ApiCounts>,
    daily: HashMap<(Scope, i64, &'static str, u16), i64>,
}

impl ApiTally {
    fn is_empty(&self) -> bool {
        self.minutes.is_empty() && self.daily.is_empty()
    }

    fn add_minute(&mut self, counts: &ApiCounts) {
        self.minutes
            .entry((counts.scope, counts.minute))
            .or_insert_with(|| ApiCounts {
                scope: counts.scope,
                minute: counts.minute,
                ..ApiCounts::default()
            })
            .add(counts);
    }

    /// Takes in another tally's counts (a failed flush's, put back).
    fn absorb(&mut self, other: ApiTally) {
        for counts in other.minutes.values() {
            self.add_minute(counts);
        }
        for (key, calls) in other.daily {
            *self.daily.entry(key).or_default() += calls;
        }
    }

    fn daily_rows(&self) -> Vec<DailyCalls> {
        self.daily
            .iter()
            .map(|(&(scope, day, endpoint, status), &calls)| DailyCalls {
                scope,
                day,
                endpoint: endpoint.to_owned(),
                status: i32::from(status),
                calls,
            })
            .collect()
    }
}

/// The epoch minute (UTC) of an epoch-millisecond instant: the monitor's row key.
pub fn minute_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000)
}

impl Tally {
    pub fn new(clock: Clock) -> Self {
        Self::with_counting(clock, true)
    }

    /// A tally that counts only when `counting`.
    pub fn with_counting(clock: Clock, counting: bool) -> Self {
        Self {
            clock,
            counting,
            webhooks: Mutex::default(),
            api: Mutex::default(),
        }
    }

    /// One delivery answered after `took`. It counts once for each portal its verified
    /// events name, and as often in the app-wide rows; a delivery with none (refused
    /// before its events were trusted) counts for portal 0, app-wide only, since an
    /// unverified body names whatever its sender wrote. A refusal (unsigned, forged or
    /// stale) is counted apart, not as an attempt: anyone can send one, and HubSpot's own
    /// attempts that failed are revealed by their retries' `attemptNumber`.
    pub fn delivery(&self, portals: &[PortalEvents], answer: Answer, took: Duration) {
        if !self.counting {
            return;
        }
        let minute = minute_of(self.clock.now_ms());
        let unattributed = [PortalEvents::default()];
        let portals = if portals.is_empty() {
            &unattributed[..]
        } else {
            portals
        };
        let latency = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        let mut webhooks = self.webhooks.lock().expect("tally lock");
        let attempts = i64::from(answer != Answer::Unauthorized);
        for p in portals {
            let mut delta = WebhookCounts {
                attempts,
                latency_ms_sum: latency * attempts,
                latency_ms_max: latency * attempts,
                ..WebhookCounts::default()
            };
            let class = match answer {
                Answer::Success => &mut delta.successes,
                Answer::Unauthorized => &mut delta.unauthorized,
                Answer::BadRequest => &mut delta.bad_request,
                Answer::TooLarge => &mut delta.too_large,
                Answer::Unavailable => &mut delta.unavailable,
                Answer::Timeout => &mut delta.timeouts,
                Answer::Error => &mut delta.errors,
            };
            *class = 1;
            let (first, retried) = (i64::from(p.first), i64::from(p.retried));
            delta.first_events = first;
            delta.first_deliveries = i64::from(first > 0);
            delta.retry_events = retried;
            delta.retry_deliveries = i64::from(retried > 0);
            if answer == Answer::Success {
                // An event's last attempt tells all its earlier ones; a failed attempt's
                // number is told again, one higher, by the attempt after it.
                delta.revealed_first = retried;
                delta.revealed_retries = i64::try_from(p.earlier_retries).unwrap_or(i64::MAX);
            } else {
                delta.failed_first_events = first;
                delta.failed_retry_events = retried;
            }
            for scope in [Scope::Portal(p.portal_id), Scope::App] {
                webhooks
                    .entry((scope, minute))
                    .or_insert_with(|| WebhookCounts {
                        scope,
                        minute,
                        ..WebhookCounts::default()
                    })
                    .add(&delta);
            }
        }
    }

    /// One API call to HubSpot for `portal` to an `endpoint` class with the version it was
    /// made at (`crm.batch_read@2026-03`),
    /// answered `status` (0: no answer).
    pub fn api_call(&self, portal: PortalId, endpoint: &'static str, status: u16) {
        if !self.counting {
            return;
        }
        let minute = minute_of(self.clock.now_ms());
        let day = minute.div_euclid(MINUTES_PER_DAY);
        let mut api = self.api.lock().expect("tally lock");
        for scope in [Scope::Portal(portal), Scope::App] {
            api.add_minute(&ApiCounts {
                scope,
                minute,
                calls: 1,
                errors: i64::from(!(200..300).contains(&status)),
                rate_limited: i64::from(status == 429),
            });
            *api.daily.entry((scope, day, endpoint, status)).or_default() += 1;
        }
    }

    /// Whether this tally counts (the monitor is on).
    pub fn counting(&self) -> bool {
        self.counting
    }

    /// Adds everything gathered to the store; on failure the counts wait for the next try.
    pub async fn flush(&self, store: &dyn Statistics) -> Result<(), StoreError> {
        let webhooks = std::mem::take(&mut *self.webhooks.lock().expect("tally lock"));
        let api = std::mem::take(&mut *self.api.lock().expect("tally lock"));
        if webhooks.is_empty() && api.is_empty() {
            return Ok(());
        }
        let rows: Vec<WebhookCounts> = webhooks.values().copied().collect();
        let calls: Vec<ApiCounts> = api.minutes.values().copied().collect();
        let written = store.add_counts(&rows, &calls, &api.daily_rows()).await;
        if written.is_err() {
            self.restore(webhooks, api);
        }
        written
    }

    fn restore(&self, webhooks: HashMap<(Scope, i64), WebhookCounts>, api: ApiTally) {
        let mut held = self.webhooks.lock().expect("tally lock");
        for (key, counts) in webhooks {
            held.entry(key)
                .or_insert_with(|| WebhookCounts {
                    scope: counts.scope,
                    minute: counts.minute,
                    ..WebhookCounts::default()
                })
                .add(&counts);
        }
        drop(held);
        self.api.lock().expect("tally lock").absorb(api);
    }

    /// Flushes `every` so often until `shutdown`; the last flush is the caller's, once
    /// requests have stopped.
    pub async fn run(&self, store: &dyn Statistics, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            if let Err(error) = self.flush(store).await {
                warn!(error = %Chain(&error), "monitor counts not flushed; kept for the next try");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classed_as_hubspot_counts_them() {
        let quick = Duration::from_millis(30);
        assert_eq!(Answer::of(200, quick), Answer::Success);
        assert_eq!(Answer::of(204, Duration::from_secs(6)), Answer::Timeout);
        assert_eq!(Answer::of(401, quick), Answer::Unauthorized);
        assert_eq!(Answer::of(503, quick), Answer::Unavailable);
        assert_eq!(Answer::of(500, quick), Answer::Error);
    }
}
