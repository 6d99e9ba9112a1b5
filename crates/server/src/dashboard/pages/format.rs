//! Figures as a page shows them: percentages, their level as a CSS class, rate cards,
//! times (UTC, to the minute) and spans from now, query strings.

use crate::monitor::levels::AlertLevels;
use crate::monitor::rates::Window;

pub(super) struct RateCard {
    pub(super) name: &'static str,
    pub(super) rate: String,
    /// `ok`, `warning`, `critical`, or empty without attempts.
    pub(super) class: &'static str,
    pub(super) detail: String,
}

pub(super) fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.2}%", r * 100.0))
}

/// The rate's level as a CSS class (`ok`, `warning`, `critical`); none without a rate.
pub(super) fn rate_class(rate: Option<f64>, levels: AlertLevels) -> &'static str {
    rate.map_or("", |r| levels.classify(r).as_str())
}

pub(super) fn card(name: &'static str, window: Window, levels: AlertLevels) -> RateCard {
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

/// Deliveries refused over the day (unsigned, forged or stale), which the rates leave out.
pub(super) fn refused_card(refused: i64) -> RateCard {
    RateCard {
        name: "Refused deliveries",
        rate: refused.to_string(),
        class: if refused > 0 { "warning" } else { "" },
        detail: "24 h · unsigned, forged or stale; not in the rates".to_owned(),
    }
}

/// An epoch-milliseconds time as pages show it.
pub(super) fn at_minute(ms: i64) -> String {
    crate::timestamp::Timestamp(ms).page()
}

/// `in 25 min`, `3 h ago`: how far `at_ms` is from `now_ms`.
pub(super) fn relative(at_ms: i64, now_ms: i64) -> String {
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

/// `?a=b&c=d` of the non-empty pairs.
pub(super) fn query_string(pairs: &[(&str, String)]) -> String {
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
