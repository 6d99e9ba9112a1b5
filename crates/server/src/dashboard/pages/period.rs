//! The span a page's charts cover, its tabs, and the charts for it.

use serde::Deserialize;
use store::{Scope, Store, StoreError};

use super::super::charts::{self, Bucket};
use crate::monitor::tally::minute_of;

pub(super) struct Tab {
    pub(super) name: &'static str,
    pub(super) href: String,
    pub(super) current: bool,
}

/// The span a page's charts cover.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Period {
    /// The last hour, minute by minute.
    Hour,
    /// The last 24 hours, hour by hour.
    #[default]
    Day,
    /// The last 30 days, day by day.
    Month,
}

impl Period {
    pub(super) const ALL: [(Self, &'static str, &'static str); 3] = [
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

    pub(super) fn tabs(self, href: impl Fn(&'static str) -> String) -> Vec<Tab> {
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

/// The success-rate and latency charts of `scope` over `period`.
pub(super) async fn chart_pair(
    store: &dyn Store,
    scope: Scope,
    period: Period,
    now_ms: i64,
) -> Result<(String, String), StoreError> {
    let now = minute_of(now_ms);
    let (unit, count) = period.buckets();
    let from = (now.div_euclid(unit) - count + 1) * unit;
    let hooks = store.webhook_series(scope, from).await?;
    let api = store.api_series(scope, from).await?;
    let buckets: Vec<Bucket> = charts::buckets(&hooks, &api, now, unit, count);
    Ok((
        charts::success_rate(&buckets, "success rate"),
        charts::latency(&buckets, "acknowledgement latency"),
    ))
}
